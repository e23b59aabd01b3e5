"""``--change`` lines: forms, quoting, expansion and dockerd's refusals."""

from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.daemon.images.changes import apply_changes, expand_ports


def test_exec_and_shell_forms() -> None:
    cfg = apply_changes({}, ['CMD ["a", "b"]', "ENTRYPOINT run it"])
    assert cfg["Cmd"] == ["a", "b"]  # CMD was set: ENTRYPOINT keeps it
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "run it"]
    cfg = apply_changes({"Cmd": ["old"]}, ['ENTRYPOINT ["/e"]'])
    assert cfg["Cmd"] is None  # ENTRYPOINT without CMD clears the inherited one


def test_env_label_quoting_and_expansion() -> None:
    cfg = apply_changes(
        {"Env": ["A=1"]},
        ['ENV B="two words" C=$A-${A}x D=${NOPE:-dflt}', "ENV A 3 4", "LABEL 'k 1'=v x=\"y z\""],
    )
    assert cfg["Env"] == ["A=3 4", "B=two words", "C=1-1x", "D=dflt"]
    assert cfg["Labels"] == {"k 1": "v", "x": "y z"}
    with pytest.raises(errdefs.InvalidParameter, match="can't find = in"):
        apply_changes({}, ["ENV A=1 B"])


def test_other_instructions() -> None:
    cfg = apply_changes(
        {},
        [
            "EXPOSE 80 53/udp 8000-8001",
            "VOLUME /a /b",
            'VOLUME ["/c"]',
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "STOPSIGNAL 9",
            "ONBUILD RUN make",
            "HEALTHCHECK --interval=1m30s --retries=2 CMD curl -f x",
        ],
    )
    assert cfg["ExposedPorts"] == {k: {} for k in ("80/tcp", "53/udp", "8000/tcp", "8001/tcp")}
    assert cfg["Volumes"] == {"/a": {}, "/b": {}, "/c": {}}
    assert cfg["WorkingDir"] == "/srv/app"
    assert cfg["User"] == "1000:1000" and cfg["StopSignal"] == "9"
    assert cfg["OnBuild"] == ["RUN make"]
    assert cfg["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f x"],
        "Interval": 90_000_000_000,
        "Retries": 2,
    }
    assert apply_changes({}, ["healthcheck none"])["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FROM busybox", "FROM is not a valid change command"),
        ("RUN true", "RUN is not a valid change command"),
        ("ADD a b", "ADD is not a valid change command"),
        ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("EXPOSE 99999", "invalid range specified for containerPort: 99999"),
    ],
)
def test_refusals(line: str, message: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as err:
        apply_changes({}, [line])
    assert str(err.value) == message


def test_expand_ports() -> None:
    assert expand_ports("1-3/UDP") == ["1/udp", "2/udp", "3/udp"]
    with pytest.raises(errdefs.InvalidParameter):
        expand_ports("x")


def test_same_results_as_dockerd() -> None:
    # checked against a throwaway dockerd 20.10 classic build (same rules as v26 here):
    # one ENV's values expand with the variables from before it
    cfg = apply_changes(
        {},
        [
            'ENV A=1 B="x y" C=\'$A q\' D=a\\ b E="a\\"b" F=${A:-z}${NOPE:-d} G=${A:+alt} H=\\$A',
            "ENV I ${A}  two  words",
            "LABEL \"k 1\"=v2 k2='$A' k3=$A$B",
            'EXPOSE 80 $P 53/udp\nENV P="81 82"\nEXPOSE $P',
            "WORKDIR a\nWORKDIR b/../c\nWORKDIR /x//y/\nENV D=dd\nWORKDIR $D",
            "ONBUILD   RUN echo hi   ",
        ],
    )
    assert cfg["Env"] == [
        "A=1", "B=x y", "C=$A q", "D=dd", "E=a\"b", "F=zd", "G=", "H=$A", "I=1  two  words", "P=81 82",
    ]  # fmt: skip
    assert cfg["Labels"] == {"k 1": "v2", "k2": "$A", "k3": "1x y"}
    assert cfg["ExposedPorts"] == {k: {} for k in ("53/udp", "80/tcp", "81/tcp", "82/tcp")}
    assert cfg["WorkingDir"] == "/x/y/dd"
    assert cfg["OnBuild"] == ["RUN echo hi   "]
    with pytest.raises(errdefs.InvalidParameter) as err:
        apply_changes({}, ['VOLUME /a "/b c"'])
    assert str(err.value) == (
        'failed to process "\\"/b": unexpected end of statement while looking for matching double-quote'
    )
