package benchmarks

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Machine describes where and with what a comparison ran.
type Machine struct {
	// CPUModel is the first "model name" of /proc/cpuinfo.
	CPUModel string
	// CPUInfoProcessors counts the "processor" entries of /proc/cpuinfo;
	// CPUInfoCores is its "cpu cores" field (cores per package).
	CPUInfoProcessors, CPUInfoCores string
	// NumCPU and GOMAXPROCS are the Go runtime's.
	NumCPU, GOMAXPROCS int
	// OS and Arch are GOOS and GOARCH.
	OS, Arch string
	// GoVersion is runtime.Version.
	GoVersion string
	// QUICGoVersion and NATSGoVersion are the versions of
	// github.com/quic-go/quic-go and github.com/nats-io/nats.go built in.
	QUICGoVersion, NATSGoVersion string
	// NATSServer is the output of `nats-server --version`.
	NATSServer string
	// Date is when the comparison started.
	Date time.Time
	// LoadAvg is /proc/loadavg when the comparison started: other work on
	// the machine skews the figures.
	LoadAvg string
}

// loadAvg returns the 1, 5 and 15 minute load averages of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// DescribeMachine fills Machine from /proc/cpuinfo, the runtime and the
// build information; NATSServer is left for the caller.
func DescribeMachine() Machine {
	m := Machine{
		CPUModel:          "unknown",
		CPUInfoProcessors: "unknown",
		CPUInfoCores:      "unknown",
		NumCPU:            runtime.NumCPU(),
		GOMAXPROCS:        runtime.GOMAXPROCS(0),
		OS:                runtime.GOOS,
		Arch:              runtime.GOARCH,
		GoVersion:         runtime.Version(),
		QUICGoVersion:     moduleVersion("github.com/quic-go/quic-go"),
		NATSGoVersion:     moduleVersion("github.com/nats-io/nats.go"),
		Date:              time.Now(),
		LoadAvg:           loadAvg(),
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	procs := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			procs++
		case "model name":
			if m.CPUModel == "unknown" {
				m.CPUModel = v
			}
		case "cpu cores":
			if m.CPUInfoCores == "unknown" {
				m.CPUInfoCores = v
			}
		}
	}
	if procs > 0 {
		m.CPUInfoProcessors = strconv.Itoa(procs)
	}
	return m
}

// moduleVersion returns the version of module path in this binary's
// build information, or "unknown".
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Path + " " + d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown"
}
