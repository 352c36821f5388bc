package scale

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ProcessRSS returns the process's resident set and its peak so far in
// bytes, from /proc/self/status (Linux only).
func ProcessRSS() (rss, peak uint64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseRSS(f)
}

// parseRSS reads the VmRSS and VmHWM lines of a /proc/<pid>/status file,
// which the kernel writes in kB ("VmRSS:	  123456 kB").
func parseRSS(r io.Reader) (rss, peak uint64, err error) {
	var haveRSS, havePeak bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("scale: unexpected %s line %q", name, sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("scale: %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss, haveRSS = kb*1024, true
		} else {
			peak, havePeak = kb*1024, true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !haveRSS || !havePeak {
		return 0, 0, fmt.Errorf("scale: VmRSS or VmHWM missing from the process status")
	}
	return rss, peak, nil
}
