"""Look-up of the benchmark peers by name."""

from .gmm_numba_peer import GmmNumbaPeer
from .onedal_peer import OnedalPeer
from .sklearn_peer import SklearnPeer

IN_PROCESS = {peer.name: peer for peer in (GmmNumbaPeer, SklearnPeer)}
#: Column order of the report; the first peer is the one the ratios refer to.
ALL_NAMES = ("gmm_numba", "sklearn", "onedal")
#: Peer whose fitted means and log-likelihood the others are checked against.
REFERENCE = "sklearn"


def in_process_peer(name):
    """Instantiate the in-process peer called ``name``.

    Parameters
    ----------
    name : {"gmm_numba", "sklearn"}

    Returns
    -------
    InProcessPeer
    """
    try:
        return IN_PROCESS[name]()
    except KeyError:
        raise ValueError(f"unknown in-process peer {name!r}; choose from {sorted(IN_PROCESS)}") from None


def build_peers(names=ALL_NAMES, onedal_python=None):
    """Instantiate the selected peers in report order.

    Parameters
    ----------
    names : iterable of str
        Subset of :data:`ALL_NAMES`.
    onedal_python : str or Path, optional
        Interpreter of the oneDAL venv.

    Returns
    -------
    list
    """
    peers = []
    for name in ALL_NAMES:
        if name not in names:
            continue
        peers.append(OnedalPeer(onedal_python) if name == "onedal" else in_process_peer(name))
    return peers
