package abi

import "testing"

func TestDecodeBatch(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ok    bool
		items int
	}{
		{`{"batch":[{"url":"/a"},{"url":"/b"}],"timeout_ms":5}`, true, 2},
		{`{"batch":[]}`, true, 0},
		{`{"url":"/a"}`, false, 0},                    // a plain request
		{`{"url":"/a","body":"\"batch\""}`, false, 0}, // mentions "batch", is not one
		{`{"batch":null}`, false, 0},                  // no batch
		{`{"batch":[1,}`, false, 0},                   // not JSON: the function says so
	} {
		b, ok := DecodeBatch([]byte(tc.in))
		if ok != tc.ok || len(b.Batch) != tc.items {
			t.Errorf("DecodeBatch(%s) = %d items, %v", tc.in, len(b.Batch), ok)
		}
	}
	if b, _ := DecodeBatch([]byte(`{"batch":[{}],"timeout_ms":5}`)); b.TimeoutMS != 5 {
		t.Errorf("timeout_ms = %d", b.TimeoutMS)
	}
}
