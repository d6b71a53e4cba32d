package ipsetstore

import "errors"

// Variant is which iptables the match rules go through. iptables-nft and
// iptables-legacy drive two different kernel subsystems: a rule added
// with one is invisible to the other, and a chain created by one (Docker's
// DOCKER-USER) does not exist for the other.
type Variant string

// The variants. VariantAuto (or "") runs plain iptables: whichever the
// system's alternative points to, as go-iptables does by default.
const (
	VariantAuto   Variant = "auto"
	VariantNft    Variant = "nft"
	VariantLegacy Variant = "legacy"
)

// ValidateVariant checks the iptables-variant key.
func ValidateVariant(v string) error {
	switch Variant(v) {
	case "", VariantAuto, VariantNft, VariantLegacy:
		return nil
	}
	return errors.New("auto, nft or legacy")
}

// Command returns the binary that changes family f's rules in variant v:
// iptables, iptables-nft, ip6tables-legacy and so on (Debian, RHEL and
// Alpine install all of them under these names).
func (v Variant) Command(f Family) string {
	name := iptablesName(f)
	switch v {
	case VariantNft, VariantLegacy:
		return name + "-" + string(v)
	}
	return name
}
