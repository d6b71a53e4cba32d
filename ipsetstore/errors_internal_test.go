package ipsetstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestKernelErrnosMatchTheSentinels(t *testing.T) {
	cases := []struct {
		name  string
		errno syscall.Errno
		want  error
	}{
		{"eperm_means_no_cap_net_admin", syscall.EPERM, ErrNotPermitted},
		{"hash_full_means_the_set_is_full", ipsetErrHashFull, ErrSetFull},
		{"an_unknown_set_type_means_no_kernel_support", ipsetErrFindType, ErrNoKernelSupport},
		{"eprotonosupport_means_no_kernel_support", syscall.EPROTONOSUPPORT, ErrNoKernelSupport},
		{"enoent_stays_a_plain_enoent", syscall.ENOENT, syscall.ENOENT},
	}
	sentinels := []error{ErrNotPermitted, ErrSetFull, ErrNoKernelSupport}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := fmt.Errorf("adding 192.0.2.1 to set x: %w", errnoErr(c.errno))
			if !errors.Is(err, c.want) {
				t.Fatalf("errno %d (%v) does not match %v", c.errno, err, c.want)
			}
			for _, s := range sentinels {
				if s != c.want && errors.Is(err, s) {
					t.Errorf("errno %d also matches %v", c.errno, s)
				}
			}
		})
	}
}

func TestTheKernelsErrorReplyNamesTheRefusedLine(t *testing.T) {
	// A reply as ip_set's call_ad builds it: the errno, then the request
	// with its top-level IPSET_ATTR_LINENO rewritten.
	m := newMsg(nil, cmdAdd, 0)
	m.str(attrSetname, "s")
	m.u32host(attrLineno, 7)
	req := m.finish(1)
	code := int32(-ipsetErrHashFull)
	body := append(binary.NativeEndian.AppendUint32(nil, uint32(code)), req...)
	re := parseError(body)
	if re == nil || re.line != 7 || !errors.Is(re.err, ErrSetFull) {
		t.Fatalf("parseError = %+v, want line 7 and ErrSetFull", re)
	}
}
