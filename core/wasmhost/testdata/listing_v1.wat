;; listing_v1.wat: a guest written against ABI version 1 before the stat
;; host function was added: it imports read_file and log only, lists
;; /proc/self/task with read_file and logs the host's answer as it came.
;; It must load and run on a host that has stat, and get the listing's
;; new fields (size, mtime_ns, truncated) without tripping on them.
(module
  (import "barbossa" "read_file" (func $read_file (param i32 i32) (result i64)))
  (import "barbossa" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)

  ;; A bump allocator; nothing is freed (each run is a fresh instance).
  (global $top (mut i32) (i32.const 4096))

  (data (i32.const 16) "{\"probes\":[{\"name\":\"listing\",\"version\":\"1.0.0\"}]}")
  (data (i32.const 128) "{\"status\":\"ok\"}")
  (data (i32.const 256) "{\"path\":\"/proc/self/task\"}")

  (func (export "barbossa_abi_version") (result i32) (i32.const 1))

  (func (export "barbossa_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $top))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (global.set $top (local.get $end))
    (local.get $p))

  (func (export "barbossa_free") (param $p i32))

  (func (export "barbossa_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 49)))

  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (local $answer i64)
    (local.set $answer (call $read_file (i32.const 256) (i32.const 26)))
    ;; log the answer at info (0): ptr is its high half, len its low one
    (call $log (i32.const 0)
      (i32.wrap_i64 (i64.shr_u (local.get $answer) (i64.const 32)))
      (i32.wrap_i64 (local.get $answer)))
    (i64.or (i64.shl (i64.const 128) (i64.const 32)) (i64.const 15)))
)
