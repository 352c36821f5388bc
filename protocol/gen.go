package protocol

// Regenerate macula.pb.go after editing macula.proto. Needs protoc and
// protoc-gen-go v1.36.12 on PATH (go install
// google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
//
//go:generate protoc --go_out=. --go_opt=paths=source_relative macula.proto
