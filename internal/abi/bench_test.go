package abi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
	"github.com/barbossa-agent/barbossa/sdk"
)

// BenchmarkDecodeReport compares DecodeReport with strict encoding/json
// decoding alone (what core/wasmhost did before; core/pluginhost was not
// even strict), on the docker probe's golden report (10 KB), on the
// 9,000-level report it refuses (which the old decoder accepted), and on
// reports nested to the default max_depth (32) and to its ceiling (256),
// decoded at max_depth 256: what a level costs.
//
//	go test -run '^$' -bench DecodeReport -benchmem -count 6 ./internal/abi
func BenchmarkDecodeReport(b *testing.B) {
	docker, err := os.ReadFile("../../plugins/docker/testdata/report.golden.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range []struct {
		name string
		data []byte
	}{
		{"docker", docker},
		{"nested9000", []byte(abitest.Nested(9000))},
		{"nested32", []byte(abitest.Nested(abi.DefaultMaxDepth - 4))},
		{"nested256", []byte(abitest.Nested(abi.MaxMaxDepth - 4))},
	} {
		b.Run(in.name+"/abi", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				var r sdk.Report
				abi.DecodeReport(in.data, abi.MaxMaxDepth, &r)
			}
		})
		b.Run(in.name+"/json", func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				var r sdk.Report
				dec := json.NewDecoder(bytes.NewReader(in.data))
				dec.DisallowUnknownFields()
				if dec.Decode(&r) == nil {
					r.Validate()
				}
			}
		})
	}
}
