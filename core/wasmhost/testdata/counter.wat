;; counter.wat: counts collects in a global, so a test can tell a kept
;; instance (1, 2, 3, ...) from a fresh one per run (1, 1, 1, ...). Its two
;; kinds are the same code; "tally" says it is stateful.
(module
  (memory (export "memory") 1)
  (global $runs (mut i32) (i32.const 0))
  (data (i32.const 16) "{\"probes\":[{\"name\":\"counter\",\"description\":\"runs in this instance\"},{\"name\":\"tally\",\"description\":\"runs in this instance, kept\",\"stateful\":true}]}")
  (data (i32.const 512) "{\"status\":\"ok\",\"metrics\":[{\"name\":\"counter.runs\",\"value\":0}],\"entities\":[]}")

  (func (export "barbossa_abi_version") (result i32) (i32.const 1))
  ;; One request buffer is enough: the host frees nothing it did not get.
  (func (export "barbossa_alloc") (param $size i32) (result i32) (i32.const 4096))
  (func (export "barbossa_free") (param $p i32))

  (func (export "barbossa_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 146)))

  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    ;; the value's one digit: runs mod 10
    (i32.store8 (i32.const 569) (i32.add (i32.const 48) (i32.rem_u (global.get $runs) (i32.const 10))))
    (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 75)))
)
