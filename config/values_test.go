package config_test

import (
	"testing"

	"github.com/recidivist/recidivist/config"
)

func TestValues_every_listed_value_is_accepted_and_a_word_off_the_list_is_refused(t *testing.T) {
	for key, values := range config.Values {
		if _, ok := config.KeyNamed(key); !ok {
			t.Errorf("Values lists %q, which is not a key", key)
			continue
		}
		for _, v := range values {
			if _, err := load(t, nil, "--"+key, v); err != nil {
				t.Errorf("--%s %s, a value Values lists, is refused: %v", key, v, err)
			}
		}
		if _, err := load(t, nil, "--"+key, "bogus"); err == nil {
			t.Errorf("--%s bogus is accepted: Values would offer too little", key)
		}
	}
}
