"""The SSL back ends a recipe can choose by name.

An hparams file names its back end with one key, ``backend: aasist``, and
swaps it with an override (``--backend=sls``). Each constructor's defaults
are the sizes of its paper; ``backend_options`` holds only what differs (one
mapping per back end)::

    backend: aasist            # aasist, sls, nes2net_x, tcm, mamba
    backend_options: {}        # e.g. {nes2net_x: {nes_ratio: [4, 4]}}
    backend_net: !apply:dpda.models.backends.build_backend
        name: !ref <backend>
        input_size: !ref <ssl_dim>
        num_samples: !ref <max_samples>
        options: !ref <backend_options>

- ``aasist``: :class:`dpda.models.aasist.AASIST` (SSL-AASIST, Tak et al.
  2022), on the last layer's frames.
- ``sls``: :class:`dpda.models.sls.SLS` (Zhang et al. 2024), on every
  hidden layer (the front end gives the stack: ``ssl_layer: all``, see
  :func:`front_end_layer`); its classifier is sized for one input length.
- ``nes2net_x``: :class:`dpda.models.nes2net.Nes2NetX` (Liu et al. 2025), on
  the last layer's frames.
- ``tcm``: :class:`dpda.models.conformer_tcm.ConformerTCM` (Truong et al.
  2024), on the last layer's frames.
- ``mamba``: :class:`dpda.models.mamba.XLSRMamba` (XLSR-Mamba, Xiao and
  Das 2024: dual-column bidirectional Mamba), on the last layer's frames.

Authors
 * dpda contributors 2026
"""

import importlib

#: name -> (module, class, what the front end must give: "last" or "all").
BACKENDS = {
    "aasist": ("dpda.models.aasist", "AASIST", "last"),
    "sls": ("dpda.models.sls", "SLS", "all"),
    "nes2net_x": ("dpda.models.nes2net", "Nes2NetX", "last"),
    "tcm": ("dpda.models.conformer_tcm", "ConformerTCM", "last"),
    "mamba": ("dpda.models.mamba", "XLSRMamba", "last"),
}


def _entry(name):
    """The registry entry of a back end, or an error listing the names."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown back end {name!r}; choose one of: {', '.join(BACKENDS)}"
        ) from None


def front_end_layer(name):
    """What the front end must give a back end (the default ``ssl_layer``).

    Arguments
    ---------
    name : str
        Back-end name.

    Returns
    -------
    str
        ``"all"`` (stacked hidden states) for SLS, ``"last"`` otherwise.

    Example
    -------
    >>> front_end_layer("sls"), front_end_layer("aasist")
    ('all', 'last')
    """
    return _entry(name)[2]


def backend_definition(name, input_size, num_samples=None, options=None):
    """The class and constructor arguments of a back end chosen by name.

    Also what an exported detector's ``hyperparams.yaml`` says instead of
    the name (``!new:<class>`` with these arguments, see
    :mod:`dpda.export`).

    Arguments
    ---------
    name : str
        A key of :data:`BACKENDS`.
    input_size : int
        Feature size of the front end (``ssl_dim``).
    num_samples : int, optional
        Samples per training and evaluation crop; SLS sizes its classifier
        for the number of frames they give (required for ``sls``).
    options : dict, optional
        ``{back-end name: constructor arguments}``; only ``options[name]``
        is used.

    Returns
    -------
    path : str
        Dotted path of the class.
    kwargs : dict
        Its constructor arguments.

    Example
    -------
    >>> backend_definition("sls", 1024, 64600)
    ('dpda.models.sls.SLS', {'input_size': 1024, 'num_frames': 201})
    """
    module, cls, _ = _entry(name)
    kwargs = {"input_size": input_size, **dict((options or {}).get(name) or {})}
    if name == "sls":
        if num_samples is None:
            raise ValueError("the sls back end needs num_samples (max_samples)")
        from dpda.models.sls import ssl_num_frames

        kwargs.setdefault("num_frames", ssl_num_frames(num_samples))
    return f"{module}.{cls}", kwargs


def build_backend(name, input_size, num_samples=None, options=None):
    """Build a back end by name.

    Arguments
    ---------
    name : str
        A key of :data:`BACKENDS`.
    input_size : int
        Feature size of the front end (``ssl_dim``).
    num_samples : int, optional
        Samples per training and evaluation crop (required for ``sls``).
    options : dict, optional
        ``{back-end name: constructor arguments}``; only ``options[name]``
        is used.

    Returns
    -------
    torch.nn.Module

    Example
    -------
    >>> import torch
    >>> net = build_backend("nes2net_x", 64, options={"aasist": None,
    ...     "nes2net_x": {"nes_ratio": [4, 4]}})
    >>> net(torch.randn(2, 10, 64)).shape
    torch.Size([2, 2])
    >>> build_backend("sls", 1024, num_samples=64600).fc1.in_features
    22847
    """
    path, kwargs = backend_definition(name, input_size, num_samples, options)
    module, cls = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)(**kwargs)


# How an exported detector names the back end (dpda.export).
build_backend.exported_definition = backend_definition
