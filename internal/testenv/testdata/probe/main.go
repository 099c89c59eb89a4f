// Command probe is the only program in the test image that testenv imports
// into a private dockerd. It is built static (CGO_ENABLED=0) at test time, so
// the image needs no base layer and no registry.
//
//	probe [sleep]     run until SIGTERM (exit 0): a running container
//	probe exit N      exit with code N: an exited container, or a HEALTHCHECK
//	probe alloc MiB   touch MiB of memory, then sleep: non-zero memory stats
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"sleep"}
	}
	switch args[0] {
	case "sleep":
		sleep()
	case "exit":
		code := 0
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "probe: exit code:", err)
				os.Exit(2)
			}
			code = n
		}
		os.Exit(code)
	case "alloc":
		mib := 16
		if len(args) > 1 {
			if n, err := strconv.Atoi(args[1]); err == nil {
				mib = n
			}
		}
		buf := make([]byte, mib<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		sleep()
		runtime.KeepAlive(buf)
	default:
		fmt.Fprintln(os.Stderr, "probe: unknown command", args[0])
		os.Exit(2)
	}
}

// sleep blocks until SIGTERM or SIGINT. As PID 1 of a container the process
// gets no default signal handling, so without this `docker stop` would wait
// its full grace period and then SIGKILL.
func sleep() {
	fmt.Println("probe: ready")
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
