;; abi2.wat: a probe of an ABI version this agent does not speak (2).
;; Build: wat2wasm abi2.wat -o abi2.wasm
(module
  (import "barbossa" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)

  ;; A bump allocator that can undo its last allocation: the host allocates
  ;; the collect request, the guest frees it when done (ownership passed to
  ;; it), and the heap is back where it started. Results live in static data;
  ;; freeing them is a no-op.
  (global $top (mut i32) (i32.const 4096))
  (global $last (mut i32) (i32.const -1))

  (data (i32.const 16) "{\"probes\":[{\"name\":\"wat\",\"version\":\"1.0.0\",\"description\":\"a probe in WAT\"}]}")
  (data (i32.const 128) "{\"status\":\"ok\",\"message\":\"hello from WAT\",\"metrics\":[{\"name\":\"wat.answer\",\"value\":42}],\"entities\":[]}")
  (data (i32.const 256) "collect called")

  (func (export "barbossa_abi_version") (result i32) (i32.const 2))

  (func $alloc (export "barbossa_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $top))
    ;; the end, rounded up to 8 bytes
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    ;; grow the memory when the end is past it; no memory left is a trap
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (global.set $top (local.get $end))
    (global.set $last (local.get $p))
    (local.get $p))

  (func $free (export "barbossa_free") (param $p i32)
    (if (i32.eq (local.get $p) (global.get $last))
      (then
        (global.set $top (local.get $p))
        (global.set $last (i32.const -1)))))

  ;; results are packed: ptr << 32 | len
  (func (export "barbossa_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 76)))

  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (call $log (i32.const -4) (i32.const 256) (i32.const 14)) ;; level debug
    (call $free (local.get $ptr))
    (i64.or (i64.shl (i64.const 128) (i64.const 32)) (i64.const 101)))
)
