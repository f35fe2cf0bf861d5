package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux this tool runs on.
const clockTicks = 100

// procSample is one reading of a process's CPU time and resident memory.
type procSample struct {
	at     time.Time
	cpu    time.Duration // user + system
	rssKiB int64
}

// readProc reads /proc/pid (pid 0: this process).
func readProc(pid int) (procSample, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return s, fmt.Errorf("%s/stat: too few fields", dir)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("%s/stat: bad utime or stime", dir)
	}
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, err
	}
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				s.rssKiB, _ = strconv.ParseInt(string(f[0]), 10, 64)
			}
		}
	}
	return s, nil
}

// procWatch samples a process now and then, keeping the peak RSS.
type procWatch struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	last    procSample
	peakRSS int64
	err     error
}

// watchProc samples pid (0: this process) every interval until stop. It
// returns nil if pid < 0 (nothing to watch).
func watchProc(pid int, interval time.Duration) *procWatch {
	if pid < 0 {
		return nil
	}
	w := &procWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	w.sample()
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
	return w
}

// sample reads the process now and returns the reading.
func (w *procWatch) sample() procSample {
	if w == nil {
		return procSample{}
	}
	s, err := readProc(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = err
		return w.last
	}
	w.last = s
	w.peakRSS = max(w.peakRSS, s.rssKiB)
	return s
}

func (w *procWatch) peak() int64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peakRSS
}

func (w *procWatch) close() {
	if w == nil {
		return
	}
	close(w.stop)
	<-w.done
}

// procStats summarises a process over a measured window.
type procStats struct {
	PID           int     `json:"pid,omitempty"`
	CPUSeconds    float64 `json:"cpu_s"`
	CPUPercent    float64 `json:"cpu_pct"` // of one core, over the window
	CPUusPerDeliv float64 `json:"cpu_us_per_delivery,omitempty"`
	RSSStartKiB   int64   `json:"rss_start_kib"`
	RSSPeakKiB    int64   `json:"rss_peak_kib"`
	RSSEndKiB     int64   `json:"rss_end_kib"`
	Error         string  `json:"error,omitempty"`
}

// statsBetween summarises a and b, the readings at the window's ends.
func statsBetween(w *procWatch, a, b procSample, deliveries int64) *procStats {
	if w == nil {
		return nil
	}
	cpu := b.cpu - a.cpu
	s := &procStats{PID: w.pid, CPUSeconds: cpu.Seconds(), RSSStartKiB: a.rssKiB, RSSPeakKiB: w.peak(), RSSEndKiB: b.rssKiB}
	if wall := b.at.Sub(a.at); wall > 0 {
		s.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	}
	if deliveries > 0 {
		s.CPUusPerDeliv = float64(cpu.Microseconds()) / float64(deliveries)
	}
	w.mu.Lock()
	if w.err != nil {
		s.Error = w.err.Error()
	}
	w.mu.Unlock()
	return s
}

// pidOr returns pid when it is set, else -1: nothing to watch.
func pidOr(pid int) int {
	if pid > 0 {
		return pid
	}
	return -1
}

// machineSample is the whole machine's CPU time from /proc/stat: busy
// and all, over every core.
type machineSample struct {
	busy, total time.Duration
}

func readMachine() machineSample {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineSample{}
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return machineSample{}
	}
	var m machineSample
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		d := time.Duration(n) * time.Second / clockTicks
		m.total += d
		if i != 3 && i != 4 { // idle and iowait
			m.busy += d
		}
	}
	return m
}

// machineStats is the machine's load over a run's measured window: what
// else competed with the server and the load tool for the cores.
type machineStats struct {
	Cores      int     `json:"cores"`
	BusyPct    float64 `json:"busy_pct"`    // of all cores
	OtherCores float64 `json:"other_cores"` // busy cores not the server's or the tool's
	LoadAvg    string  `json:"loadavg,omitempty"`
}

func machineBetween(a, b machineSample, procs ...*procStats) *machineStats {
	m := &machineStats{Cores: runtime.NumCPU()}
	if total := b.total - a.total; total > 0 {
		m.BusyPct = 100 * float64(b.busy-a.busy) / float64(total)
		wall := total.Seconds() / float64(m.Cores)
		others := (b.busy - a.busy).Seconds()
		for _, p := range procs {
			if p != nil {
				others -= p.CPUSeconds
			}
		}
		m.OtherCores = max(others, 0) / wall
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := bytes.Fields(la)
		if len(f) >= 3 {
			m.LoadAvg = string(bytes.Join(f[:3], []byte(" ")))
		}
	}
	return m
}
