"""The private Kafka of the fault tests (support.private_infra) formats its `bootstrap.checkpoint` once per
process. `make test` runs two pytest-xdist workers, and the fault test and the three-broker test each start a
private cluster in their own worker, often at the same moment: both must get the checkpoint, and neither may
remove what the other is reading (CI failed once with FileNotFoundError on a shared format folder). Needs the
Kafka jars that `make infra-up` installs; starts two JVMs, no broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.stack import REPO

_FORMAT = (
    "import sys\n"
    "from pathlib import Path\n"
    "from support.private_infra import _bootstrap_checkpoint\n"
    "sys.stdout.write(_bootstrap_checkpoint(Path(sys.argv[1])).hex())\n"
)


def test_two_processes_formatting_in_one_folder_at_once_each_get_the_checkpoint(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
    procs = [subprocess.Popen([sys.executable, "-c", _FORMAT, str(tmp_path)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]

    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"a formatting process failed:\n{err[-3000:]}"
        assert len(bytes.fromhex(out)) > 0, "an empty bootstrap.checkpoint"
        assert b"metadata.version" in bytes.fromhex(out), "the checkpoint names the metadata version"
    assert list(tmp_path.iterdir()) == [], "each process removes its own scratch folder, and only it"
