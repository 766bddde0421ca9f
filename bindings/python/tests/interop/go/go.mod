module github.com/objstore/objstore/bindings/python/tests/interop/go

go 1.21

require github.com/objstore/objstore/bindings/go v0.0.0

// Built against the binding in this source tree (bindings/go).
replace github.com/objstore/objstore/bindings/go => ../../../../go
