import pytest

from analysis.targets import load_target
from rcapcore.errors import BadInput


def test_example_target_is_a_mid_size_deployment_with_a_mass_reindex():
    t = load_target("example")
    assert t.level == "business" and t.business.nodes == 4
    assert t.mass_operation.documents == 10_000_000
    assert t.deployment.topology == "sentinel"
    assert load_target("redis-level").level == "redis"


def test_scaled_target_multiplies_steady_rates_only():
    t = load_target("example")
    s = t.scaled(2)
    assert s.business.docs_per_s == 2 * t.business.docs_per_s
    assert s.mass_operation == t.mass_operation and s.business.nodes == 4


@pytest.mark.parametrize("text,line,fragment", [
    ("business:\n  docs_per_s: [1\n", 3, "invalid YAML"),
    ("business:\n  nuxeo_nodes: 4\n  docs_per_sec: 3\n", 3, "unknown field"),
    ("business:\n  nuxeo_nodes: 4\n  docs_per_s: lots\n", 3, "expected a number"),
    ("business:\n  docs_per_s: 1\ndeployment:\n  topology: cluster\n", 4, "topology"),
    ("business:\n  docs_per_s: -1\n", 2, "must be >= 0"),
    ("redis:\n  works_per_s: 1\nbusiness:\n  docs_per_s: 1\n", 1, "exactly one"),
])
def test_bad_targets_name_file_and_line(tmp_path, text, line, fragment):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(BadInput) as exc:
        load_target(str(p))
    assert f"t.yaml:{line}:" in str(exc.value) and fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_target_file():
    with pytest.raises(BadInput, match="does not exist"):
        load_target("no-such-target")
