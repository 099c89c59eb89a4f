package system

// This file does all of the probe's I/O: it fills a snapshot from gopsutil.
// Turning a snapshot into a report is build.go's job and touches nothing.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/mem"
	"github.com/shirou/gopsutil/v3/net"
	"github.com/shirou/gopsutil/v3/process"
)

// snapshot is everything one run read from the system, as gopsutil returned
// it. It marshals to JSON so testdata can hold a real machine's readings.
type snapshot struct {
	CPU       cpuTimes                       `json:"cpu"`
	Memory    *mem.VirtualMemoryStat         `json:"memory,omitempty"`
	Swap      *mem.SwapMemoryStat            `json:"swap,omitempty"`
	Disks     []diskReading                  `json:"disks,omitempty"`
	DiskIO    map[string]disk.IOCountersStat `json:"diskio,omitempty"`
	Net       []net.IOCountersStat           `json:"net,omitempty"`
	Load      *load.AvgStat                  `json:"load,omitempty"`
	Procs     *load.MiscStat                 `json:"procs,omitempty"`
	Conns     []net.ConnectionStat           `json:"conns,omitempty"`
	ProcNames map[int32]string               `json:"proc_names,omitempty"`
	Host      hostInfo                       `json:"host"`
	Errors    []sectionError                 `json:"errors,omitempty"`
}

// diskReading is one mounted filesystem and its usage.
type diskReading struct {
	Partition disk.PartitionStat `json:"partition"`
	Usage     disk.UsageStat     `json:"usage"`
}

// hostInfo is the host entity's data. Everything but the hostname, boot
// time and uptime is cached between runs: it changes only with a reboot.
type hostInfo struct {
	Hostname        string `json:"hostname"`
	OS              string `json:"os"`
	Platform        string `json:"platform"`
	PlatformFamily  string `json:"platform_family"`
	PlatformVersion string `json:"platform_version"`
	Kernel          string `json:"kernel"`
	Arch            string `json:"arch"`
	Virtualization  string `json:"virtualization"`
	CPUModel        string `json:"cpu_model"`
	CPUs            int    `json:"cpus"`
	BootTime        uint64 `json:"boot_time"` // unix seconds
	Uptime          uint64 `json:"uptime"`    // seconds
}

// sectionError is a part of the system that could not be read. The rest of
// the report still goes out; the run's status becomes unknown.
type sectionError struct {
	Section string `json:"section"`
	Err     string `json:"error"`
}

func (s *snapshot) fail(section string, err error) {
	s.Errors = append(s.Errors, sectionError{Section: section, Err: err.Error()})
}

// errStuck marks a mount whose earlier statfs has not returned yet.
var errStuck = errors.New("an earlier statfs has not returned yet")

// readCPU reads the CPU time counters.
func readCPU(ctx context.Context, perCPU bool) (cpuTimes, error) {
	var out cpuTimes
	total, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return out, fmt.Errorf("cpu times: %w", err)
	}
	if len(total) == 0 {
		return out, errors.New("cpu times: no total line")
	}
	out.Total = total[0]
	if perCPU {
		if out.PerCPU, err = cpu.TimesWithContext(ctx, true); err != nil {
			return out, fmt.Errorf("per-cpu times: %w", err)
		}
	}
	return out, nil
}

// read fills everything but the CPU times (Collect handles those, since
// they need the previous run's reading). A part that fails is recorded in
// the snapshot and the rest is still read; only a cancelled ctx stops it.
func (p *Probe) read(ctx context.Context, cfg parsedConfig, s *snapshot) error {
	var err error
	if s.Memory, err = mem.VirtualMemoryWithContext(ctx); err != nil {
		s.fail("memory", err)
	}
	if s.Swap, err = mem.SwapMemoryWithContext(ctx); err != nil {
		s.fail("swap", err)
	}
	if s.Load, err = load.AvgWithContext(ctx); err != nil {
		s.fail("load", err)
	}
	if s.Procs, err = load.MiscWithContext(ctx); err != nil {
		s.fail("processes", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.readDisks(ctx, cfg, s)
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.DiskIO, err = disk.IOCountersWithContext(ctx); err != nil {
		s.fail("diskio", err)
	}
	if s.Net, err = net.IOCountersWithContext(ctx, true); err != nil {
		s.fail("net", err)
	}
	if cfg.Connections {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.Conns, err = p.connections(); err != nil {
			s.fail("connections", err)
		}
		s.ProcNames = processNames(ctx, listeners(s.Conns), cfg.MaxListeners)
	}
	if s.Host, err = p.readHost(ctx); err != nil {
		s.fail("host", err)
	}
	return ctx.Err()
}

// readDisks lists mounts and statfs's the ones selectMounts keeps.
func (p *Probe) readDisks(ctx context.Context, cfg parsedConfig, s *snapshot) {
	// all=true: gopsutil's own filter drops every "nodev" filesystem, which
	// includes NFS and CIFS; our exclude list is the filter instead.
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		s.fail("disk", err)
		return
	}
	for _, part := range selectMounts(parts, cfg.MountExcludeTypes, cfg.MountExcludePaths) {
		u, err := p.statfs(ctx, part.Mountpoint, cfg.MountTimeout.Duration)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
			// A FUSE mount of another user, or a mount gone since the
			// listing: nothing to report, nothing wrong with the host.
			continue
		default:
			s.fail("disk "+part.Mountpoint, err)
			continue
		}
		if u.Total == 0 {
			continue // size-less filesystems have no usage to speak of
		}
		s.Disks = append(s.Disks, diskReading{Partition: part, Usage: *u})
	}
}

// statfs returns a mount's usage, giving up after timeout. A statfs on a
// dead network mount can block for minutes, so it runs on its own goroutine
// and, if it times out, the mount is skipped until that call returns.
func (p *Probe) statfs(ctx context.Context, mount string, timeout time.Duration) (*disk.UsageStat, error) {
	p.mu.Lock()
	if p.stuck[mount] {
		p.mu.Unlock()
		return nil, errStuck
	}
	p.mu.Unlock()

	type result struct {
		u   *disk.UsageStat
		err error
	}
	ch := make(chan result, 1)
	done := false // guarded by p.mu: the call returned
	go func() {
		u, err := p.usage(ctx, mount)
		ch <- result{u, err}
		p.mu.Lock()
		done = true
		delete(p.stuck, mount)
		p.mu.Unlock()
	}()

	t := time.NewTimer(timeout)
	defer t.Stop()
	var cause error
	select {
	case r := <-ch:
		return r.u, r.err
	case <-t.C:
		cause = fmt.Errorf("statfs did not answer within %s", timeout)
	case <-ctx.Done():
		cause = ctx.Err()
	}
	p.mu.Lock()
	if !done {
		p.stuck[mount] = true
	}
	p.mu.Unlock()
	return nil, cause
}

// connections reads the socket tables and gives each listening socket
// its owner's PID (sockets.go).
func (p *Probe) connections() ([]net.ConnectionStat, error) {
	socks, err := readSockets(p.owners.procDir)
	if err != nil {
		return nil, err
	}
	var inodes []uint64
	for _, s := range socks {
		if _, ok := listenerProto(s.conn); ok {
			inodes = append(inodes, s.inode)
		}
	}
	pids := p.owners.lookup(inodes, time.Now())
	conns := make([]net.ConnectionStat, len(socks))
	for i, s := range socks {
		conns[i] = s.conn
		if _, ok := listenerProto(s.conn); ok {
			conns[i].Pid = pids[s.inode]
		}
	}
	return conns, nil
}

// processNames looks up the names of the processes owning the first max
// listeners. Listeners are few, so this is a handful of small reads.
func processNames(ctx context.Context, ls []listener, max int) map[int32]string {
	names := map[int32]string{}
	for i, l := range ls {
		if i >= max {
			break
		}
		if l.PID <= 0 {
			continue
		}
		if _, ok := names[l.PID]; ok {
			continue
		}
		proc, err := process.NewProcessWithContext(ctx, l.PID)
		if err != nil {
			continue // exited since the socket table was read
		}
		if n, err := proc.NameWithContext(ctx); err == nil {
			names[l.PID] = n
		}
	}
	return names
}

// hostRefresh is how long the cached host facts are trusted before being
// read again, in case a CPU was hot-plugged or the OS upgraded in place.
const hostRefresh = 10 * time.Minute

// readHost returns the host entity's data, re-reading the static part only
// after a reboot or once every hostRefresh.
func (p *Probe) readHost(ctx context.Context) (hostInfo, error) {
	boot, err := host.BootTimeWithContext(ctx)
	if err != nil {
		return hostInfo{}, fmt.Errorf("boot time: %w", err)
	}
	up, err := host.UptimeWithContext(ctx)
	if err != nil {
		return hostInfo{}, fmt.Errorf("uptime: %w", err)
	}
	name, err := os.Hostname()
	if err != nil {
		return hostInfo{}, fmt.Errorf("hostname: %w", err)
	}

	p.mu.Lock()
	h, at := p.host, p.hostAt
	p.mu.Unlock()
	if h.BootTime != boot || time.Since(at) > hostRefresh {
		if h, err = readStaticHost(ctx); err != nil {
			return hostInfo{}, err
		}
		h.BootTime = boot
		p.mu.Lock()
		p.host, p.hostAt = h, time.Now()
		p.mu.Unlock()
	}
	h.Hostname, h.Uptime = name, up
	return h, nil
}

func readStaticHost(ctx context.Context) (hostInfo, error) {
	h := hostInfo{OS: runtime.GOOS}
	var err error
	if h.Platform, h.PlatformFamily, h.PlatformVersion, err = host.PlatformInformationWithContext(ctx); err != nil {
		return h, fmt.Errorf("platform: %w", err)
	}
	if h.Kernel, err = host.KernelVersionWithContext(ctx); err != nil {
		return h, fmt.Errorf("kernel version: %w", err)
	}
	if h.Arch, err = host.KernelArch(); err != nil {
		return h, fmt.Errorf("kernel arch: %w", err)
	}
	// Virtualization detection is a best guess; an error is not a failure.
	h.Virtualization, _, _ = host.VirtualizationWithContext(ctx)
	if h.CPUs, err = cpu.CountsWithContext(ctx, true); err != nil {
		return h, fmt.Errorf("cpu count: %w", err)
	}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		h.CPUModel = infos[0].ModelName
	}
	return h, nil
}
