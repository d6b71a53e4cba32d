package config_test

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/recidivist/recidivist/config"
)

// examplePath is the example configuration shipped with recidivist.
const examplePath = "../examples/recidivist.toml"

// commentedKey matches a key's line in the example, set or commented out.
func commentedKey(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^(#\s*)?` + regexp.QuoteMeta(name) + `\s*=`)
}

func TestExampleConfigShowsEveryKeyWithItsDefault(t *testing.T) {
	body, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var set map[string]any
	if _, err := toml.Decode(string(body), &set); err != nil {
		t.Fatalf("decoding %s: %v", examplePath, err)
	}
	for _, k := range config.Keys {
		t.Run(k.Name, func(t *testing.T) {
			if !commentedKey(k.Name).Match(body) {
				t.Fatalf("%s does not show %s", examplePath, k.Name)
			}
			v, isSet := set[k.Name]
			if len(k.Default) == 0 {
				if isSet {
					t.Errorf("%s has no default but is set to %v; show it commented out with an example value", k.Name, v)
				}
				return
			}
			if !isSet {
				t.Fatalf("%s is not set to its default %q", k.Name, k.Default)
			}
			if want := tomlDefault(t, k); !reflect.DeepEqual(v, want) {
				t.Errorf("%s = %#v, want its default %#v", k.Name, v, want)
			}
		})
	}
	for name := range set {
		if !isKey(name) {
			t.Errorf("%s sets %s, which is no key", examplePath, name)
		}
	}
}

// tomlDefault is the key's default as the TOML decoder returns it.
func tomlDefault(t *testing.T, k config.Key) any {
	t.Helper()
	switch k.Kind {
	case config.Strings:
		out := make([]any, len(k.Default))
		for i, v := range k.Default {
			out[i] = v
		}
		return out
	case config.Int:
		n, err := strconv.ParseInt(k.Default[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	case config.Bool:
		return k.Default[0] == "true"
	default:
		return k.Default[0]
	}
}

func isKey(name string) bool {
	for _, k := range config.Keys {
		if k.Name == name {
			return true
		}
	}
	return false
}

func TestExampleConfigIsValid(t *testing.T) {
	t.Run("as_shipped_it_loads_as_the_defaults", func(t *testing.T) {
		cfg := mustLoad(t, nil, "--config", examplePath)
		want := productDefaults()
		want.File = examplePath
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("got  %+v\nwant %+v", cfg, want)
		}
	})
	t.Run("with_its_commented_examples_enabled_it_loads_them", func(t *testing.T) {
		body, err := os.ReadFile(examplePath)
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		for _, k := range config.Keys {
			if len(k.Default) > 0 {
				continue
			}
			loc := commentedKey(k.Name).FindStringIndex(text)
			if loc == nil {
				t.Fatalf("%s does not show %s", examplePath, k.Name)
			}
			line := text[loc[0]:]
			uncommented := strings.TrimLeft(strings.TrimPrefix(line, "#"), " ")
			text = text[:loc[0]] + uncommented
		}
		// The example's token file does not exist here: one like it does.
		text = strings.ReplaceAll(text, `"/etc/recidivist/export-token"`, `"`+tokenFile(t, "tok\n", 0o600)+`"`)
		cfg := mustLoad(t, nil, "--config", writeConfig(t, text))
		if len(cfg.Jails) == 0 || len(cfg.Ignore) == 0 || cfg.Ports == "" || cfg.MetricsListen == "" {
			t.Errorf("an enabled example was not read: jails %q, ignore %v, ports %q, metrics-listen %q",
				cfg.Jails, cfg.Ignore, cfg.Ports, cfg.MetricsListen)
		}
		if cfg.ExportListen == "" || cfg.ExportToken != "tok" || len(cfg.ExportAllow) == 0 {
			t.Errorf("an enabled export example was not read: export-listen %q, token read %v, export-allow %v",
				cfg.ExportListen, cfg.ExportToken != "", cfg.ExportAllow)
		}
	})
}
