module promstore/go-shim

go 1.19
