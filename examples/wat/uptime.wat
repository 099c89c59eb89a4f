;; uptime.wat: a Barbossa probe written by hand in WebAssembly text, to show
;; that the probe ABI (docs/ABI.md) needs no Go, no SDK and no WASI. It asks
;; the host for /proc/uptime through the read_file host function (granted
;; with [probe.allow] read = ["/proc/uptime"]) and reports the whole seconds
;; as the metric uptime.seconds.
;;
;;   wat2wasm uptime.wat -o uptime.wasm
;;
;; Every JSON document it returns is static text or static text around one
;; number, so it needs no JSON library either.
(module
  ;; Host functions, module "barbossa". read_file takes a JSON request
  ;; (pointer, length) and returns a packed pointer<<32|length to the JSON
  ;; response, which the host wrote into a buffer from our barbossa_alloc.
  (import "barbossa" "log" (func $log (param i32 i32 i32)))
  (import "barbossa" "read_file" (func $read_file (param i32 i32) (result i64)))

  (memory (export "memory") 1)

  ;; Static data below 1024; the heap starts at 1024. [offset, length]
  (data (i32.const 64)  "{\"probes\":[{\"name\":\"uptime\",\"version\":\"1.0.0\",\"description\":\"seconds since boot, from /proc/uptime\"}]}") ;; [64, 102]
  (data (i32.const 256) "{\"path\":\"/proc/uptime\",\"max_bytes\":128}")                                                         ;; [256, 39]
  (data (i32.const 320) "\"data\":\"")                                                                                               ;; [320, 8]
  (data (i32.const 336) "{\"status\":\"ok\",\"message\":\"read by a probe written in WAT\",\"metrics\":[{\"name\":\"uptime.seconds\",\"value\":") ;; [336, 102]
  (data (i32.const 448) "}],\"entities\":[]}")                                                                                      ;; [448, 17]
  (data (i32.const 480) "reading /proc/uptime")                                                                                      ;; [480, 20]
  (data (i32.const 512) "{\"error\":\"/proc/uptime: no number in its data\"}")                                                       ;; [512, 47]

  ;; A bump allocator that can take back its last allocation. Each collect
  ;; allocates and frees in last-in first-out order (request, response,
  ;; report), so the heap returns to where it started after every run.
  (global $top (mut i32) (i32.const 1024))
  (global $last (mut i32) (i32.const -1))

  (func $alloc (export "barbossa_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (global.get $top))
    ;; round the end up to 8 bytes
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        ;; grow by the pages missing; no memory left is a trap, which the
        ;; host reports as a failed run and answers with a fresh instance
        (if (i32.eq (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (local.get $have)) (i32.const 65536)) (i32.const 1)))
                    (i32.const -1))
          (then unreachable))))
    (global.set $top (local.get $end))
    (global.set $last (local.get $p))
    (local.get $p))

  ;; Freeing the last allocation takes it back; anything else (static data
  ;; from describe, an older buffer) is ignored, as the ABI allows.
  (func $free (export "barbossa_free") (param $p i32)
    (if (i32.eq (local.get $p) (global.get $last))
      (then
        (global.set $top (local.get $p))
        (global.set $last (i32.const -1)))))

  (func (export "barbossa_abi_version") (result i32) (i32.const 1))

  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))

  (func (export "barbossa_describe") (result i64)
    (call $pack (i32.const 64) (i32.const 102)))

  ;; $find returns the offset of needle in hay, or -1.
  (func $find (param $hay i32) (param $hayLen i32) (param $needle i32) (param $needleLen i32) (result i32)
    (local $i i32) (local $j i32)
    (block $notFound
      (loop $next
        (br_if $notFound (i32.gt_s (local.get $needleLen) (i32.sub (local.get $hayLen) (local.get $i))))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $cmp
            (if (i32.eq (local.get $j) (local.get $needleLen))
              (then (return (local.get $i))))
            (br_if $mismatch (i32.ne (i32.load8_u (i32.add (local.get $hay) (i32.add (local.get $i) (local.get $j))))
                                     (i32.load8_u (i32.add (local.get $needle) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cmp)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const -1))

  (func $copy (param $dst i32) (param $src i32) (param $len i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i)) (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; $itoa writes n in decimal at dst and returns the number of digits.
  (func $itoa (param $n i64) (param $dst i32) (result i32)
    (local $len i32) (local $m i64) (local $i i32)
    ;; count the digits
    (local.set $m (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
      (br_if $count (i64.ne (local.get $m) (i64.const 0))))
    ;; write them from the last
    (local.set $i (local.get $len))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $dst) (local.get $i))
                  (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $write (i32.gt_s (local.get $i) (i32.const 0))))
    (local.get $len))

  ;; barbossa_collect: the request (config and all) is not needed, so it is
  ;; freed at once. The result is a report, or the host's error passed on:
  ;; {"error": "..."} has the same shape in both places.
  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (local $resp i64) (local $rp i32) (local $rl i32) (local $at i32) (local $end i32)
    (local $n i64) (local $digits i32) (local $b i32) (local $out i32) (local $o i32)
    (call $free (local.get $ptr))
    (call $log (i32.const -4) (i32.const 480) (i32.const 20))

    (local.set $resp (call $read_file (i32.const 256) (i32.const 39)))
    (local.set $rp (i32.wrap_i64 (i64.shr_u (local.get $resp) (i64.const 32))))
    (local.set $rl (i32.wrap_i64 (local.get $resp)))

    ;; {"data":"12345.67 8901.23\n"} or {"error":"denied: ..."}
    (local.set $at (call $find (local.get $rp) (local.get $rl) (i32.const 320) (i32.const 8)))
    (if (i32.lt_s (local.get $at) (i32.const 0))
      (then (return (local.get $resp)))) ;; the host frees it with barbossa_free

    ;; the whole seconds: the digits after "data":"
    (local.set $at (i32.add (i32.add (local.get $rp) (local.get $at)) (i32.const 8)))
    (local.set $end (i32.add (local.get $rp) (local.get $rl)))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $b (i32.load8_u (local.get $at)))
        (br_if $done (i32.or (i32.lt_u (local.get $b) (i32.const 48)) (i32.gt_u (local.get $b) (i32.const 57))))
        (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10)) (i64.extend_i32_u (i32.sub (local.get $b) (i32.const 48)))))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $digit)))
    (call $free (local.get $rp))
    (if (i32.eqz (local.get $digits))
      (then (return (call $pack (i32.const 512) (i32.const 47)))))

    ;; prefix + number (at most 20 digits) + suffix
    (local.set $out (call $alloc (i32.add (i32.const 102) (i32.add (i32.const 20) (i32.const 17)))))
    (call $copy (local.get $out) (i32.const 336) (i32.const 102))
    (local.set $o (i32.add (i32.const 102) (call $itoa (local.get $n) (i32.add (local.get $out) (i32.const 102)))))
    (call $copy (i32.add (local.get $out) (local.get $o)) (i32.const 448) (i32.const 17))
    (call $pack (local.get $out) (i32.add (local.get $o) (i32.const 17))))
)
