package abi

import "testing"

func TestSplitBatch(t *testing.T) {
	items, isErr, err := SplitBatch([]byte(` { "x": {"y": [1, "]"]}, "batch" : [ {"body":"a]\"}{["} , {"error":"x"},1,"s\\",[1,[2]] ,null, true ] , "z": -1.5e3 } `))
	want := []string{`{"body":"a]\"}{["}`, `{"error":"x"}`, `1`, `"s\\"`, `[1,[2]]`, `null`, `true`}
	if err != nil || isErr || len(items) != len(want) {
		t.Fatalf("SplitBatch = %q, %v, %v", items, isErr, err)
	}
	for i := range want {
		if string(items[i]) != want[i] {
			t.Errorf("item %d = %s, want %s", i, items[i], want[i])
		}
	}
	if items, _, err := SplitBatch([]byte(`{"batch":[]}`)); err != nil || len(items) != 0 {
		t.Errorf("empty batch: %q %v", items, err)
	}
	if _, isErr, _ := SplitBatch([]byte(`{"error":"denied: no"}`)); !isErr {
		t.Error("an error response was not recognised")
	}
	for _, bad := range []string{``, `[]`, `{"batch":{}}`, `{"batch":[1,2}`, `{"batch":[1 2]}`, `{"batch":["x]}`, `{"other":1}`, `{"batch":[1]`, `{"batch":[1],}`, `{"batch":[1]}x`, `{batch:[1]}`, `{"b\u0061tch":[1]}`} {
		if _, _, err := SplitBatch([]byte(bad)); err == nil {
			t.Errorf("SplitBatch(%s) did not fail", bad)
		}
	}
}

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
