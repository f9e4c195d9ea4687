module github.com/lib/pq

go 1.19

require github.com/libconnpool/connpool-go v0.0.0
