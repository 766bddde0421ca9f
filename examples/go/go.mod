module github.com/objstore/objstore/examples/go

go 1.21

require github.com/objstore/objstore/bindings/go v0.0.0

// The examples build against the binding in this source tree. A project of
// your own drops this line and requires a published version instead.
replace github.com/objstore/objstore/bindings/go => ../../bindings/go
