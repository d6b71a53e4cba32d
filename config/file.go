package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/recidivist/recidivist/internal/fileperm"
)

// Apply is the Before hook of every command that reads settings: it reads
// the config file (--config, or the default path if that file exists),
// rejects unknown keys and wrong types, and fills every flag not given on the
// command line or in the environment from the file.
func Apply(c *cli.Context) error {
	path, explicit := c.String("config"), c.IsSet("config")
	values, err := ReadFile(path, explicit)
	if err != nil || values == nil {
		return err
	}
	return altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(path, values), c.Command.Flags)
}

func fileOf(c *cli.Context) string {
	path := c.String("config")
	if path == "" {
		return ""
	}
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

// ReadFile reads and checks a TOML config file. A missing file is an error
// only when explicit; the returned map is normalised for altsrc (a single
// string where a list is allowed becomes a one-element list).
func ReadFile(path string, explicit bool) (map[interface{}]interface{}, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, openError(path, err)
	}
	if fileperm.WritableByOthers(fi) {
		return nil, &Error{Key: "config", Value: path, Allowed: fmt.Sprintf("a file only its owner can write (mode is %#o); fix with: chmod go-w %s", fi.Mode().Perm(), path)}
	}
	b, err := readConfigFile(path, fi)
	if err != nil {
		return nil, err
	}
	var raw map[string]interface{}
	if _, err := toml.Decode(string(b), &raw); err != nil {
		return nil, parseError(path, b, err)
	}
	out := make(map[interface{}]interface{}, len(raw))
	var errs []error
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := raw[name]
		k, ok := lookup(name)
		if !ok {
			errs = append(errs, &Error{Key: name, Value: fmt.Sprint(v), Source: path, Allowed: "no such key; known keys: " + knownKeys()})
			continue
		}
		nv, err := normalise(k, v)
		if err != nil {
			errs = append(errs, &Error{Key: name, Value: fmt.Sprint(v), Source: path, Allowed: k.Kind.String()})
			continue
		}
		out[name] = nv
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func normalise(k Key, v interface{}) (interface{}, error) {
	switch k.Kind {
	case Strings:
		switch t := v.(type) {
		case string:
			return []interface{}{t}, nil
		case []interface{}:
			for _, e := range t {
				if _, ok := e.(string); !ok {
					return nil, fmt.Errorf("list element %v is not a string", e)
				}
			}
			return t, nil
		}
	case Int:
		if n, ok := v.(int64); ok {
			return int(n), nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Duration:
		switch t := v.(type) {
		case string:
			if _, err := ParseDuration(t); err != nil {
				return nil, err
			}
			return t, nil
		case int64: // plain seconds, as fail2ban allows
			return fmt.Sprint(t), nil
		}
	default:
		if s, ok := v.(string); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("wrong type %T", v)
}

func knownKeys() string {
	names := make([]string, len(Keys))
	for i, k := range Keys {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}
