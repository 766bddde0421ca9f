module github.com/objstore/objstore/examples/pipeline/worker

go 1.21

require github.com/objstore/objstore/bindings/go v0.0.0

// The example builds against the binding in this source tree. A project of
// your own drops this line and requires a published version instead.
replace github.com/objstore/objstore/bindings/go => ../../../bindings/go
