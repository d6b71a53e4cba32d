package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
)

func TestStatus_shows_a_chain_that_does_not_exist_yet_as_pending_in_text_and_json(t *testing.T) {
	cfg := config.Defaults()
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Chains = []string{"INPUT", "DOCKER-USER"}
	fake, err := ipsettest.New(host.StoreConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	fake.RemoveChain("DOCKER-USER") // before Docker starts
	if _, err := fake.Ensure(); err != nil {
		t.Fatal(err)
	}
	st := readStatus(cfg, fake, nil, time.Now())

	var text bytes.Buffer
	st.print(&text)
	for _, want := range []string{"rule:     DOCKER-USER/inet PENDING", "rule:     DOCKER-USER/inet6 PENDING", "goes in as soon as it appears", "rule:     INPUT/inet present"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "MISSING") {
		t.Errorf("status calls the pending chain missing:\n%s", text.String())
	}

	var buf bytes.Buffer
	if err := writeJSON(&buf, st); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Kernel struct {
			Healthy bool `json:"healthy"`
			Rules   []struct {
				Chain       string `json:"chain"`
				ChainExists bool   `json:"chain_exists"`
				Pending     bool   `json:"pending"`
			} `json:"rules"`
		} `json:"kernel"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, r := range got.Kernel.Rules {
		if r.Pending != (r.Chain == "DOCKER-USER") || r.ChainExists == r.Pending {
			t.Errorf("status --json rule %+v: want pending exactly for DOCKER-USER", r)
		}
		if r.Pending {
			pending++
		}
	}
	if pending != 2 || !got.Kernel.Healthy {
		t.Errorf("status --json: %d pending rules, healthy %v; want 2 and healthy:\n%s", pending, got.Kernel.Healthy, buf.String())
	}
}
