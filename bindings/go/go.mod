module github.com/objstore/objstore/bindings/go

go 1.21
