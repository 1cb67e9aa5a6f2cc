package ingress

import (
	"net/netip"
	"strings"
)

// ParsePrefixes parses CIDRs, as --trusted-proxies and --allow-cidrs take
// them; a bare address stands for itself alone.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range list {
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, err
			}
			item = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 { // ::ffff:a.b.c.d/n matches a.b.c.d
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
