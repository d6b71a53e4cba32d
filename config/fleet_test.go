package config_test

import (
	"os"
	"testing"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/fleet"
)

func TestLoadReadsTheFleetKeysFromFileEnvAndFlags(t *testing.T) {
	path := writeConfig(t, `
fleet-redis = "redis-sentinel://s1:26379,s2:26379,s3:26379/fleet"
fleet-name = "eu"
fleet-user = "rcv-web1"
fleet-password-file = "/etc/recidivist/fleet.password"
fleet-tls-ca = "/etc/recidivist/fleet-ca.pem"
fleet-accept = ["block"]
`)
	got := mustLoad(t, map[string]string{"RECIDIVIST_FLEET_HOST": "web1"}, "--config", path, "--fleet-name", "eu-west")
	want := config.Fleet{
		Redis: "redis-sentinel://s1:26379,s2:26379,s3:26379/fleet", Name: "eu-west", Host: "web1", User: "rcv-web1",
		PasswordFile: "/etc/recidivist/fleet.password", TLSCA: "/etc/recidivist/fleet-ca.pem", AcceptBlock: true,
	}
	if got.Fleet != want {
		t.Fatalf("Fleet = %+v\nwant    %+v", got.Fleet, want)
	}
}

func TestAFleetWithoutFleetHostIsNamedAfterTheHostname(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || !fleet.ValidName(host) {
		t.Skipf("the hostname %q (%v) is not a valid fleet-host; the error case is tested elsewhere", host, err)
	}
	got := mustLoad(t, nil, "--config", writeConfig(t, ""), "--fleet-redis", "unix:///run/redis/redis.sock")
	if got.Fleet.Host != host || !got.Fleet.On() {
		t.Fatalf("Fleet = %+v, want host %q and on", got.Fleet, host)
	}
}
