package runtime

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// The host's files: read for resolv.conf without DNSServers, and copied
// for host-mode containers with ExtraHosts or DNS settings.
var (
	hostResolvConf = "/etc/resolv.conf"
	hostHostsFile  = "/etc/hosts"
)

// defaultHosts starts a generated /etc/hosts.
const defaultHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// ownNetFiles says whether the container gets generated /etc/hosts and
// /etc/resolv.conf: always outside host mode; in host mode when it adds
// hosts or DNS settings to the host's.
func ownNetFiles(cs ContainerSpec) bool {
	return !cs.HostNetwork || len(cs.ExtraHosts) > 0 || len(cs.DNSServers) > 0 || len(cs.DNSSearchDomains) > 0
}

// writeNetFiles writes <dir>/hosts and <dir>/resolv.conf for a container
// with ownNetFiles.
func writeNetFiles(dir string, cs ContainerSpec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	base := defaultHosts
	if cs.HostNetwork {
		b, err := os.ReadFile(hostHostsFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read host's hosts file: %w", err)
		}
		base = string(b)
	}
	hosts, err := hostsWith(base, cs.ExtraHosts)
	if err != nil {
		return err
	}
	host, _ := os.ReadFile(hostResolvConf)
	resolv := resolvFrom(cs.DNSServers, cs.DNSSearchDomains, string(host), !cs.HostNetwork)
	if err := os.WriteFile(filepath.Join(dir, hostsFile), []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("write hosts: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, resolvFile), []byte(resolv), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}

// hostsContent is a generated /etc/hosts: localhost, then extra.
func hostsContent(extra []HostEntry) (string, error) { return hostsWith(defaultHosts, extra) }

// hostsWith appends extra's lines to base, checking them.
func hostsWith(base string, extra []HostEntry) (string, error) {
	var b strings.Builder
	b.WriteString(base)
	if base != "" && !strings.HasSuffix(base, "\n") {
		b.WriteString("\n")
	}
	for _, h := range extra {
		if _, err := netip.ParseAddr(h.IPAddress); err != nil {
			return "", fmt.Errorf("extra host %q: bad address %q", h.Hostname, h.IPAddress)
		}
		if h.Hostname == "" || strings.ContainsAny(h.Hostname, " \t\r\n#") {
			return "", fmt.Errorf("extra host: bad hostname %q", h.Hostname)
		}
		fmt.Fprintf(&b, "%s\t%s\n", h.IPAddress, h.Hostname)
	}
	return b.String(), nil
}

// validateDNS checks DNS servers (IP addresses) and search domains (no
// blanks) before they go into resolv.conf.
func validateDNS(servers, search []string) error {
	for _, s := range servers {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("dns server %q is not an IP address", s)
		}
	}
	for _, d := range search {
		if d == "" || strings.ContainsAny(d, " \t\r\n#;") {
			return fmt.Errorf("bad dns search domain %q", d)
		}
	}
	return nil
}

// resolvContent builds a non-host container's resolv.conf: explicit
// servers and search domains, or else the host's file without loopback
// nameservers.
func resolvContent(servers, search []string, host string) string {
	return resolvFrom(servers, search, host, true)
}

// resolvFrom builds resolv.conf from explicit servers and search domains,
// or else from the host's file (without its loopback nameservers when
// dropLoopback) with search replaced when search domains are given.
func resolvFrom(servers, search []string, host string, dropLoopback bool) string {
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
		if dropLoopback && len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
				continue
			}
		}
		if len(f) >= 1 && (f[0] == "search" || f[0] == "domain") && len(search) > 0 {
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
