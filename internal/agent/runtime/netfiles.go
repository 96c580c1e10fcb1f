package runtime

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// hostResolvConf is read for containers without DNSServers.
var hostResolvConf = "/etc/resolv.conf"

// writeNetFiles writes <dir>/hosts and <dir>/resolv.conf for a container
// not on the host network.
func writeNetFiles(dir string, cs ContainerSpec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	hosts, err := hostsContent(cs.ExtraHosts)
	if err != nil {
		return err
	}
	host, _ := os.ReadFile(hostResolvConf)
	resolv := resolvContent(cs.DNSServers, cs.DNSSearchDomains, string(host))
	if err := os.WriteFile(filepath.Join(dir, hostsFile), []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("write hosts: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, resolvFile), []byte(resolv), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}

func hostsContent(extra []HostEntry) (string, error) {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range extra {
		if _, err := netip.ParseAddr(h.IPAddress); err != nil {
			return "", fmt.Errorf("extra host %q: bad address %q", h.Hostname, h.IPAddress)
		}
		if h.Hostname == "" || strings.ContainsAny(h.Hostname, " \t\n#") {
			return "", fmt.Errorf("extra host: bad hostname %q", h.Hostname)
		}
		fmt.Fprintf(&b, "%s\t%s\n", h.IPAddress, h.Hostname)
	}
	return b.String(), nil
}

// resolvContent builds resolv.conf from explicit servers and search
// domains, or else from the host's file without loopback nameservers.
func resolvContent(servers, search []string, host string) string {
	var b strings.Builder
	if len(servers) > 0 {
		for _, s := range servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		if len(search) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
		}
		return b.String()
	}
	for _, line := range strings.Split(host, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
				continue
			}
		}
		if len(f) >= 1 && f[0] == "search" && len(search) > 0 {
			continue
		}
		if strings.TrimSpace(line) != "" {
			b.WriteString(line + "\n")
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	return b.String()
}
