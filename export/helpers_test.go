package export

import (
	"os"

	dto "github.com/prometheus/client_model/go"
)

// writeFile writes data with exactly mode perm (the umask would narrow it).
func writeFile(path, data string, perm os.FileMode) error {
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}

// counted returns how many requests m counted under result.
func counted(m *Metrics, result string) float64 {
	var out dto.Metric
	if err := m.requests.WithLabelValues(result).Write(&out); err != nil {
		panic(err)
	}
	return out.GetCounter().GetValue()
}
