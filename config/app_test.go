package config_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/recidivist/recidivist/config"
	"github.com/urfave/cli/v2"
)

// clearEnv unsets every RECIDIVIST_ variable for the test, so that the
// environment the tests run in cannot leak into them.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range config.Keys {
		t.Setenv(k.Env(), "") // restores the old value after the test
		os.Unsetenv(k.Env())
	}
	t.Setenv("RECIDIVIST_CONFIG", "")
	os.Unsetenv("RECIDIVIST_CONFIG")
}

// writeConfig writes body to a recidivist.toml (mode 0600) in a temporary
// directory and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "recidivist.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load runs args ("test", flags…) through a one-command app built the way
// the real commands are (config.Flags, Before: config.Apply, config.Load in
// the action) with env set, and returns what Load returned or the error of
// the Before hook.
func load(t *testing.T, env map[string]string, args ...string) (*config.Config, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var cfg *config.Config
	app := &cli.App{
		Name:      "recidivist",
		Writer:    io.Discard,
		ErrWriter: io.Discard,
		Commands: []*cli.Command{{
			Name:   "test",
			Flags:  config.Flags(),
			Before: config.Apply,
			Action: func(c *cli.Context) error {
				var err error
				cfg, err = config.Load(c)
				return err
			},
		}},
		ExitErrHandler: func(*cli.Context, error) {}, // never os.Exit in a test
	}
	err := app.Run(append([]string{"recidivist", "test"}, args...))
	return cfg, err
}

// mustLoad is load for settings that must be valid.
func mustLoad(t *testing.T, env map[string]string, args ...string) *config.Config {
	t.Helper()
	cfg, err := load(t, env, args...)
	if err != nil {
		t.Fatalf("loading %q with env %v: %v", args, env, err)
	}
	return cfg
}
