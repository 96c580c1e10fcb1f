package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// TaskResources are task-level limits; zero values mean none.
type TaskResources struct {
	CPUShares   uint64 // ECS cpu units; 1 becomes 2
	MemoryLimit int64  // bytes
}

// cgroupMounts locates the cgroup hierarchies on this host.
type cgroupMounts struct {
	v1 map[string]string // controller (memory, cpu, ...) → mount point
	v2 string            // unified hierarchy mount point, "" if none
}

// dirs returns every distinct mount point, v1 and unified: runc creates
// container cgroups in each of them, so task cgroups live in each.
func (m cgroupMounts) dirs() []string {
	seen := map[string]bool{}
	var out []string
	if m.v2 != "" {
		seen[m.v2] = true
		out = append(out, m.v2)
	}
	for _, d := range m.v1 {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// v1Dirs returns every distinct v1 mount point.
func (m cgroupMounts) v1Dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.v1 {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func readCgroupMounts() (cgroupMounts, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroupMounts{}, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(f interface{ Read([]byte) (int, error) }) (cgroupMounts, error) {
	m := cgroupMounts{v1: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(sf) < 3 {
			continue
		}
		switch sf[0] {
		case "cgroup":
			for _, o := range strings.Split(sf[2], ",") {
				if _, dup := m.v1[o]; !dup && o != "rw" && o != "ro" {
					m.v1[o] = pf[4]
				}
			}
		case "cgroup2":
			if m.v2 == "" {
				m.v2 = pf[4]
			}
		}
	}
	return m, sc.Err()
}

// CreateTaskCgroup creates cgroup <CgroupRoot>/<taskID> in every v1
// hierarchy, or updates an existing one, and sets the task's limits
// (cpu.shares: CPUShares, at least 2, 1024 when 0; memory.limit_in_bytes:
// MemoryLimit, unlimited when 0). Containers with that TaskID are created
// below it.
func (r *Runtime) CreateTaskCgroup(ctx context.Context, taskID string, res TaskResources) error {
	if !validID(taskID) {
		return fmt.Errorf("invalid task id %q", taskID)
	}
	if res.MemoryLimit < 0 {
		return errors.New("task memory limit must not be negative")
	}
	if len(r.cgroups.v1) == 0 {
		return errors.New("task cgroups need cgroup v1 hierarchies, none mounted")
	}
	rel := path.Join(r.cfg.CgroupRoot, taskID)
	for _, mnt := range r.cgroups.v1Dirs() {
		if err := os.MkdirAll(filepath.Join(mnt, rel), 0o755); err != nil {
			return fmt.Errorf("create task cgroup: %w", err)
		}
	}
	if mnt := r.cgroups.v1["cpuset"]; mnt != "" {
		if err := initCpuset(mnt, rel); err != nil {
			return err
		}
	}
	shares := uint64(1024)
	if res.CPUShares > 0 {
		shares = max(res.CPUShares, 2)
	}
	limit := int64(-1)
	if res.MemoryLimit > 0 {
		limit = res.MemoryLimit
	}
	if mnt := r.cgroups.v1["cpu"]; mnt != "" {
		if err := writeCgroupFile(filepath.Join(mnt, rel, "cpu.shares"), strconv.FormatUint(shares, 10)); err != nil {
			return err
		}
	}
	if mnt := r.cgroups.v1["memory"]; mnt != "" {
		if err := writeCgroupFile(filepath.Join(mnt, rel, "memory.limit_in_bytes"), strconv.FormatInt(limit, 10)); err != nil {
			return err
		}
	}
	return nil
}

// initCpuset fills empty cpuset.cpus and cpuset.mems along rel from each
// parent: a cpuset cgroup without them cannot hold processes.
func initCpuset(mnt, rel string) error {
	dir := mnt
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		parent := dir
		dir = filepath.Join(dir, part)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return fmt.Errorf("read %s: %w", f, err)
			}
			if strings.TrimSpace(string(cur)) != "" {
				continue
			}
			val, err := os.ReadFile(filepath.Join(parent, f))
			if err != nil {
				return fmt.Errorf("read parent %s: %w", f, err)
			}
			if err := writeCgroupFile(filepath.Join(dir, f), strings.TrimSpace(string(val))); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeCgroupFile(p, val string) error {
	if err := os.WriteFile(p, []byte(val), 0); err != nil {
		return fmt.Errorf("set %s to %s: %w", p, val, err)
	}
	return nil
}

// RemoveTaskCgroup removes the task cgroup and any empty container
// cgroups left below it; absent is fine. It fails while processes remain.
func (r *Runtime) RemoveTaskCgroup(ctx context.Context, taskID string) error {
	if !validID(taskID) {
		return fmt.Errorf("invalid task id %q", taskID)
	}
	var errs []error
	for _, mnt := range r.cgroups.dirs() {
		if err := removeCgroupTree(filepath.Join(mnt, r.cfg.CgroupRoot, taskID)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroupTree rmdirs dir and its sub-directories, deepest first.
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

// oomKills returns how many processes the kernel OOM-killed in the
// container cgroup (v1 memory.oom_control or v2 memory.events "oom_kill";
// the kernel counts a kill in the victim's own cgroup whichever limit was
// hit). The counter lives until the task is deleted.
func (r *Runtime) oomKills(cgroup string) (uint64, error) {
	var file string
	if mnt := r.cgroups.v1["memory"]; mnt != "" {
		file = filepath.Join(mnt, cgroup, "memory.oom_control")
	} else if r.cgroups.v2 != "" {
		file = filepath.Join(r.cgroups.v2, cgroup, "memory.events")
	} else {
		return 0, errors.New("no memory cgroup hierarchy")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no oom_kill counter", file)
}

// readHostMemory returns MemTotal in bytes, 0 if unknown.
func readHostMemory() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
