package fleet_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/redistest"
)

// makeCA writes a CA certificate to dir/name.pem and returns it with its key.
func makeCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der) // just created
	path := filepath.Join(dir, name+".pem")
	writePEM(t, path, "CERTIFICATE", der)
	return cert, key, path
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRedissWithThePinnedCAWorksAndAWrongCAFailsClearly serves the fleet
// over TLS with a certificate for 127.0.0.1 signed by a CA the test makes
// (with crypto/x509 rather than the openssl binary: same files, no tool).
func TestRedissWithThePinnedCAWorksAndAWrongCAFailsClearly(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caPath := makeCA(t, dir, "fleet-ca")
	_, _, otherCA := makeCA(t, dir, "other-ca")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "redis.pem"), filepath.Join(dir, "redis.key")
	writePEM(t, certPath, "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyPath, "EC PRIVATE KEY", kder)

	var o redistest.Options
	o.TLS.Cert, o.TLS.Key, o.TLS.CA = certPath, keyPath, caPath
	srv := redistest.Start(t, o)

	good, err := fleet.Dial(fleet.Options{URL: srv.URL(), Name: "tls", Host: "a", TLSCA: caPath})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	mustInit(t, good, hourRule)
	push(t, good, ev("192.0.2.80", 0, "sshd", 1))

	bad, err := fleet.Dial(fleet.Options{URL: srv.URL(), Name: "tls", Host: "a", TLSCA: otherCA})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = bad.Rule(ctxFor(t))
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("a wrong CA = %v, want a certificate error", err)
	}
	t.Logf("with the wrong CA: %v", err)
}
