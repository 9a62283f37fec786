module github.com/databricks/zerobus-sdk-go

go 1.24
