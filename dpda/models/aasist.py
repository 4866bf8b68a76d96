"""AASIST's graph attention, and the AASIST back end on SSL features.

The graph layers of AASIST (GAT, HS-GAL, graph pooling), its residual
encoder block, the graph part shared by every AASIST model
(:class:`AASISTGraph`) and the SSL-AASIST back end (:class:`AASIST`); the
raw-waveform model built from the same parts is
:class:`dpda.models.raw_aasist.RawAASIST`.

The back end of Tak et al., "Automatic speaker verification spoofing and
deepfake detection using wav2vec 2.0 and data augmentation" (Odyssey 2022),
built on AASIST (Jung et al., "AASIST: Audio anti-spoofing using integrated
spectro-temporal graph attention networks", ICASSP 2022):

1. a linear projection of the SSL frames (``LL``, 1024 -> 128), read as a
   one-channel (feature x time) map, 3x3 max pooling, batch norm and SELU;
2. a residual encoder of 2-D convolution blocks (``encoder``);
3. attention pooling of the map into spectral nodes (one per feature bin,
   plus a learnt positional embedding ``pos_S``) and temporal nodes (one per
   frame);
4. a graph attention layer and a graph pooling per node type;
5. two branches of heterogeneous stacking graph attention (HS-GAL) with a
   learnable master node each, merged by an element-wise maximum;
6. readout (max of absolute values and mean of the temporal and the spectral
   nodes, plus the master node) and a linear layer to two logits.

Module and parameter names mirror the public SSL-AASIST ``Model`` (without
its ``ssl_model``), so that the released state dicts load with a prefix
change only (see :mod:`dpda.models.checkpoint_mapping`).

Authors
 * dpda contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def _pairwise_products(x):
    """Element-wise products of every pair of nodes: ``[B, N, N, D]``."""
    return x.unsqueeze(2) * x.unsqueeze(1)


def _batch_norm_nodes(bn, x):
    """Batch norm over the feature axis of node features ``[B, N, D]``."""
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _xavier_parameter(*size):
    weight = nn.Parameter(torch.empty(*size))
    nn.init.xavier_normal_(weight)
    return weight


class GraphAttentionLayer(nn.Module):
    """Graph attention layer (GAT) over fully connected nodes.

    The attention of node ``i`` on node ``j`` comes from the element-wise
    product of their features, ``tanh(W (x_i * x_j)) . w / temperature``,
    normalised over ``j``. The output is ``proj_with_att(attended) +
    proj_without_att(x)``, then batch norm and SELU.

    Arguments
    ---------
    in_dim : int
        Node feature dimension.
    out_dim : int
        Output dimension.
    temperature : float
        Softmax temperature of the attention map.
    dropout : float
        Dropout on the input nodes.

    Example
    -------
    >>> layer = GraphAttentionLayer(8, 4, temperature=2.0)
    >>> layer(torch.randn(3, 5, 8)).shape
    torch.Size([3, 5, 4])
    """

    def __init__(self, in_dim, out_dim, temperature=1.0, dropout=0.2):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier_parameter(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(dropout)
        self.act = nn.SELU()
        self.temp = temperature

    def forward(self, x):
        """Return updated nodes ``[B, N, out_dim]`` for nodes ``[B, N, in_dim]``."""
        x = self.input_drop(x)
        scores = torch.tanh(self.att_proj(_pairwise_products(x))) @ self.att_weight
        att = F.softmax(scores.squeeze(-1) / self.temp, dim=-1)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        return self.act(_batch_norm_nodes(self.bn, x))


class HtrgGraphAttentionLayer(nn.Module):
    """Heterogeneous graph attention layer (HS-GAL) with a master node.

    Two node types (temporal and spectral) are projected to a shared space
    and attend to each other; the attention vector depends on the pair of
    types (``att_weight11`` within type 1, ``att_weight22`` within type 2,
    ``att_weight12`` across types, in both directions). A master node
    attends to all nodes (``att_weightM``) and is updated alongside.

    Arguments
    ---------
    in_dim : int
        Node feature dimension.
    out_dim : int
        Output dimension.
    temperature : float
        Softmax temperature of both attention maps.
    dropout : float
        Dropout on the input nodes.

    Example
    -------
    >>> layer = HtrgGraphAttentionLayer(8, 4, temperature=100.0)
    >>> x1, x2, master = layer(torch.randn(2, 5, 8), torch.randn(2, 3, 8))
    >>> x1.shape, x2.shape, master.shape
    (torch.Size([2, 5, 4]), torch.Size([2, 3, 4]), torch.Size([2, 1, 4]))
    """

    def __init__(self, in_dim, out_dim, temperature=1.0, dropout=0.2):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier_parameter(out_dim, 1)
        self.att_weight22 = _xavier_parameter(out_dim, 1)
        self.att_weight12 = _xavier_parameter(out_dim, 1)
        self.att_weightM = _xavier_parameter(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(dropout)
        self.act = nn.SELU()
        self.temp = temperature

    def forward(self, x1, x2, master=None):
        """Update both node sets and the master node.

        Arguments
        ---------
        x1 : torch.Tensor
            Type-1 nodes ``[B, N1, in_dim]``.
        x2 : torch.Tensor
            Type-2 nodes ``[B, N2, in_dim]``.
        master : torch.Tensor, optional
            Master node ``[B or 1, 1, in_dim]``; the mean of the projected
            nodes when ``None``.

        Returns
        -------
        tuple of torch.Tensor
            Updated ``x1`` ``[B, N1, out_dim]``, ``x2`` ``[B, N2, out_dim]``
            and master node ``[B, 1, out_dim]``.
        """
        n1 = x1.shape[1]
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        if master is None:
            master = x.mean(dim=1, keepdim=True)
        x = self.input_drop(x)

        # Master node: attention over all nodes, from its product with them.
        m_scores = torch.tanh(self.att_projM(x * master)) @ self.att_weightM
        m_att = F.softmax(m_scores.squeeze(-1) / self.temp, dim=-1)
        master = self.proj_with_attM(m_att.unsqueeze(1) @ x) + self.proj_without_attM(
            master
        )

        # Node pairs: one attention vector per pair of node types.
        hidden = torch.tanh(self.att_proj(_pairwise_products(x)))
        is_type1 = torch.arange(x.shape[1], device=x.device) < n1
        both1 = is_type1[:, None] & is_type1[None, :]
        both2 = ~is_type1[:, None] & ~is_type1[None, :]
        scores = torch.where(
            both1,
            (hidden @ self.att_weight11).squeeze(-1),
            torch.where(
                both2,
                (hidden @ self.att_weight22).squeeze(-1),
                (hidden @ self.att_weight12).squeeze(-1),
            ),
        )
        att = F.softmax(scores / self.temp, dim=-1)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        x = self.act(_batch_norm_nodes(self.bn, x))
        return x[:, :n1], x[:, n1:], master


class GraphPool(nn.Module):
    """Graph pooling: keep the top-scored fraction of the nodes.

    Each node gets a sigmoid score from a linear layer; the nodes are scaled
    by their score and the ``max(int(N k), 1)`` best are kept, best first.

    Arguments
    ---------
    k : float
        Fraction of nodes to keep.
    in_dim : int
        Node feature dimension.
    p : float
        Dropout on the nodes before scoring.

    Example
    -------
    >>> pool = GraphPool(0.5, 4, 0.0)
    >>> pool(torch.randn(2, 7, 4)).shape
    torch.Size([2, 3, 4])
    """

    def __init__(self, k, in_dim, p):
        super().__init__()
        self.k = k
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(p) if p > 0 else nn.Identity()
        self.sigmoid = nn.Sigmoid()

    def forward(self, h):
        """Return the kept nodes ``[B, N', D]`` of nodes ``[B, N, D]``."""
        scores = self.sigmoid(self.proj(self.drop(h)))
        n_keep = max(int(h.shape[1] * self.k), 1)
        _, idx = torch.topk(scores, n_keep, dim=1)
        return torch.gather(h * scores, 1, idx.expand(-1, -1, h.shape[-1]))


class Residual_block(nn.Module):
    """2-D residual block of the AASIST encoder (kernels 2x3).

    ``conv1`` (padding 1) grows the feature axis by one and ``conv2``
    (no feature padding) shrinks it back, so the map keeps its size; a 1x3
    convolution matches the channels of the shortcut when they change.

    The public AASIST and SSL-AASIST code computes the pre-activation
    ``SELU(bn1(x))`` of the non-first blocks but feeds ``conv1`` with ``x``
    itself, so ``bn1`` never affects the output. ``preactivate=False``
    reproduces that (the released checkpoints need it); ``bn1`` then stays
    in the state dict for loading but is frozen, since it gets no gradient
    (an unused trainable parameter would also break DDP).

    Arguments
    ---------
    nb_filts : sequence of int
        Input and output channels.
    first : bool
        The first block has no ``bn1``.
    preactivate : bool
        Apply ``SELU(bn1(x))`` before ``conv1`` (the AASIST paper's block).
    time_pool : int
        Max pooling of the time axis after the residual sum (3 in the
        raw-waveform AASIST, 1 = none in the SSL-AASIST back end).

    Example
    -------
    >>> block = Residual_block((4, 8))
    >>> block(torch.randn(2, 4, 6, 10)).shape
    torch.Size([2, 8, 6, 10])
    >>> Residual_block((4, 8), time_pool=3)(torch.randn(2, 4, 6, 10)).shape
    torch.Size([2, 8, 6, 3])
    """

    def __init__(self, nb_filts, first=False, preactivate=False, time_pool=1):
        super().__init__()
        n_in, n_out = nb_filts
        self.first = first
        self.preactivate = preactivate
        if not first:
            self.bn1 = nn.BatchNorm2d(n_in)
            if not preactivate:
                self.bn1.requires_grad_(False)
        self.conv1 = nn.Conv2d(n_in, n_out, kernel_size=(2, 3), padding=(1, 1))
        self.selu = nn.SELU()
        self.bn2 = nn.BatchNorm2d(n_out)
        self.conv2 = nn.Conv2d(n_out, n_out, kernel_size=(2, 3), padding=(0, 1))
        self.downsample = n_in != n_out
        if self.downsample:
            self.conv_downsample = nn.Conv2d(
                n_in, n_out, kernel_size=(1, 3), padding=(0, 1)
            )
        self.time_pool = time_pool

    def forward(self, x):
        """Return the block output for a map ``[B, C_in, F, T]``."""
        out = x
        if self.preactivate and not self.first:
            out = self.selu(self.bn1(x))
        out = self.conv2(self.selu(self.bn2(self.conv1(out))))
        identity = self.conv_downsample(x) if self.downsample else x
        out = out + identity
        if self.time_pool > 1:
            out = F.max_pool2d(out, (1, self.time_pool))
        return out


DEFAULT_FILTS = ((1, 32), (32, 32), (32, 64), (64, 64), (64, 64), (64, 64))


class AASISTGraph(nn.Module):
    """The graph part shared by every AASIST model: spectral and temporal nodes to logits.

    Given spectral nodes (one per frequency bin of the encoder's map) and
    temporal nodes (one per frame), it applies:

    1. a learnt positional embedding ``pos_S`` on the spectral nodes;
    2. a graph attention layer and a graph pooling per node type
       (``GAT_layer_S`` / ``pool_S``, ``GAT_layer_T`` / ``pool_T``);
    3. two branches of heterogeneous stacking graph attention (HS-GAL), each
       with its learnable master node (``master1``, ``master2``): a layer,
       graph pooling of both node types, a second layer added residually;
    4. an element-wise maximum of the two branches (after ``drop_way``);
    5. readout: max of absolute values and mean of the temporal and the
       spectral nodes, plus the master node, dropout, ``out_layer``.

    The raw-waveform AASIST (:class:`dpda.models.raw_aasist.RawAASIST`) and
    the SSL-AASIST back end (:class:`AASIST`) derive from it and differ only
    in how they make the nodes. The parameters sit at the top level, under
    the names of the released models, so that their state dicts load as is.

    As in the released models, ``pool_ratios[3]`` and ``temperatures[3]``
    are not used: every HS-GAL layer uses ``temperatures[2]`` and every
    HS-GAL pooling ``pool_ratios[2]``.

    Arguments
    ---------
    node_dim : int
        Feature dimension of the input nodes (the encoder's channels).
    n_spectral_nodes : int
        Number of spectral nodes (size of ``pos_S``).
    gat_dims : sequence of int
        Output dimensions of the GAT layers and of the HS-GAL layers.
    pool_ratios : sequence of float
        Fractions of nodes kept by the spectral, temporal and HS-GAL pools.
    temperatures : sequence of float
        Softmax temperatures of the spectral GAT, temporal GAT and HS-GAL.
    n_classes : int
        Number of logits.
    dropout : float
        Dropout on the readout vector.
    dropout_way : float
        Dropout on each branch's nodes before the maximum.

    Example
    -------
    >>> graph = AASISTGraph(node_dim=8, n_spectral_nodes=5, gat_dims=(8, 4))
    >>> graph.classify(torch.randn(2, 5, 8), torch.randn(2, 9, 8)).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        node_dim,
        n_spectral_nodes,
        gat_dims=(64, 32),
        pool_ratios=(0.5, 0.5, 0.5, 0.5),
        temperatures=(2.0, 2.0, 100.0, 100.0),
        n_classes=2,
        dropout=0.5,
        dropout_way=0.2,
    ):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.drop_way = nn.Dropout(dropout_way)
        self.pos_S = nn.Parameter(torch.randn(1, n_spectral_nodes, node_dim))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))

        self.GAT_layer_S = GraphAttentionLayer(
            node_dim, gat_dims[0], temperature=temperatures[0]
        )
        self.GAT_layer_T = GraphAttentionLayer(
            node_dim, gat_dims[0], temperature=temperatures[1]
        )
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(
            gat_dims[0], gat_dims[1], temperature=temperatures[2]
        )
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(
            gat_dims[1], gat_dims[1], temperature=temperatures[2]
        )
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(
            gat_dims[0], gat_dims[1], temperature=temperatures[2]
        )
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(
            gat_dims[1], gat_dims[1], temperature=temperatures[2]
        )

        self.pool_S = GraphPool(pool_ratios[0], gat_dims[0], 0.3)
        self.pool_T = GraphPool(pool_ratios[1], gat_dims[0], 0.3)
        self.pool_hS1 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hT1 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hS2 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hT2 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)

        self.out_layer = nn.Linear(5 * gat_dims[1], n_classes)

    def classify(self, e_S, e_T):
        """Return logits ``[B, n_classes]`` for the nodes of one batch.

        Arguments
        ---------
        e_S : torch.Tensor
            Spectral nodes ``[B, n_spectral_nodes, node_dim]`` (before the
            positional embedding).
        e_T : torch.Tensor
            Temporal nodes ``[B, N_T, node_dim]``.

        Returns
        -------
        torch.Tensor
            The logits.
        """
        out_S = self.pool_S(self.GAT_layer_S(e_S + self.pos_S))
        out_T = self.pool_T(self.GAT_layer_T(e_T))

        out_T1, out_S1, master1 = self._branch(
            out_T,
            out_S,
            self.master1,
            (self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12),
            (self.pool_hT1, self.pool_hS1),
        )
        out_T2, out_S2, master2 = self._branch(
            out_T,
            out_S,
            self.master2,
            (self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22),
            (self.pool_hT2, self.pool_hS2),
        )
        out_T = torch.max(self.drop_way(out_T1), self.drop_way(out_T2))
        out_S = torch.max(self.drop_way(out_S1), self.drop_way(out_S2))
        master = torch.max(self.drop_way(master1), self.drop_way(master2))

        hidden = torch.cat(
            [
                out_T.abs().amax(dim=1),
                out_T.mean(dim=1),
                out_S.abs().amax(dim=1),
                out_S.mean(dim=1),
                master.squeeze(1),
            ],
            dim=1,
        )
        return self.out_layer(self.drop(hidden))

    @staticmethod
    def _branch(out_T, out_S, master, layers, pools):
        """One HS-GAL branch: layer, graph pooling, residual second layer."""
        first, second = layers
        pool_T, pool_S = pools
        out_T, out_S, master = first(out_T, out_S, master=master)
        out_S = pool_S(out_S)
        out_T = pool_T(out_T)
        aug_T, aug_S, aug_master = second(out_T, out_S, master=master)
        return out_T + aug_T, out_S + aug_S, master + aug_master


def residual_encoder(filts, preactivate=False, time_pool=1):
    """The AASIST encoder: one :class:`Residual_block` per ``filts`` entry.

    Nested ``Sequential`` containers keep the released key names
    (``encoder.<i>.0.*``).

    Arguments
    ---------
    filts : sequence of (int, int)
        Input and output channels of each block; the first block takes one
        channel and has no ``bn1``.
    preactivate : bool
        See :class:`Residual_block`.
    time_pool : int
        Time pooling after each block.

    Returns
    -------
    torch.nn.Sequential
        The encoder.

    Example
    -------
    >>> encoder = residual_encoder([(1, 4), (4, 8)], time_pool=3)
    >>> encoder(torch.randn(2, 1, 5, 27)).shape
    torch.Size([2, 8, 5, 3])
    """
    if filts[0][0] != 1:
        raise ValueError("the first residual block must take one channel")
    return nn.Sequential(
        *[
            nn.Sequential(
                Residual_block(
                    f, first=i == 0, preactivate=preactivate, time_pool=time_pool
                )
            )
            for i, f in enumerate(filts)
        ]
    )


class AASIST(AASISTGraph):
    """SSL-AASIST back end: SSL frames ``[B, T, D]`` to logits ``[B, 2]``.

    1. a linear projection of the SSL frames (``LL``, 1024 -> 128), read as a
       one-channel (feature x time) map, 3x3 max pooling, batch norm, SELU;
    2. the residual encoder (no time pooling), batch norm (``first_bn1``)
       and SELU;
    3. attention pooling of the map into spectral nodes (over time) and
       temporal nodes (over features);
    4. the graph part, :class:`AASISTGraph`.

    With the defaults this is the back end of the released SSL-AASIST and
    DPDA-AASIST models: 447,242 parameters in all, 446,730 trainable (the
    512 ``bn1`` parameters of the five non-first residual blocks are dead,
    see :class:`Residual_block`). By layer: LL 131,200; first_bn 2;
    first_bn1 128; encoder 211,072; attention 16,832; pos_S 2,688;
    master nodes 128; two GAT layers 25,344; four HS-GAL layers 59,264;
    six graph pools 262; out_layer 322.

    Arguments
    ---------
    input_size : int
        Dimension of the SSL features (1024 for XLS-R 300M).
    proj_size : int
        Dimension after the ``LL`` projection (the spectral axis of the map).
    filts : sequence of (int, int)
        Input and output channels of the residual blocks; the first must
        take one channel.
    gat_dims : sequence of int
        Output dimensions of the GAT layers and of the HS-GAL layers.
    pool_ratios : sequence of float
        Fractions of nodes kept by the spectral, temporal and HS-GAL pools.
    temperatures : sequence of float
        Softmax temperatures of the spectral GAT, temporal GAT and HS-GAL.
    attention_size : int
        Hidden channels of the 1x1-convolution attention that pools the map.
    n_classes : int
        Number of logits.
    dropout : float
        Dropout on the readout vector.
    dropout_way : float
        Dropout on each branch's nodes before the maximum.
    preactivate : bool
        See :class:`Residual_block`; ``False`` matches the released models.

    Example
    -------
    >>> backend = AASIST(input_size=16, proj_size=12, filts=((1, 4), (4, 8)),
    ...                  gat_dims=(8, 4), attention_size=8)
    >>> backend(torch.randn(2, 30, 16)).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        input_size=1024,
        proj_size=128,
        filts=DEFAULT_FILTS,
        gat_dims=(64, 32),
        pool_ratios=(0.5, 0.5, 0.5, 0.5),
        temperatures=(2.0, 2.0, 100.0, 100.0),
        attention_size=128,
        n_classes=2,
        dropout=0.5,
        dropout_way=0.2,
        preactivate=False,
    ):
        channels = filts[-1][1]
        # One spectral node per feature bin left by the 3x3 max pooling.
        super().__init__(
            channels,
            proj_size // 3,
            gat_dims=gat_dims,
            pool_ratios=pool_ratios,
            temperatures=temperatures,
            n_classes=n_classes,
            dropout=dropout,
            dropout_way=dropout_way,
        )
        self.LL = nn.Linear(input_size, proj_size)
        self.first_bn = nn.BatchNorm2d(1)
        self.first_bn1 = nn.BatchNorm2d(channels)
        self.selu = nn.SELU()
        self.encoder = residual_encoder(filts, preactivate=preactivate)
        self.attention = nn.Sequential(
            nn.Conv2d(channels, attention_size, kernel_size=(1, 1)),
            nn.SELU(),
            nn.BatchNorm2d(attention_size),
            nn.Conv2d(attention_size, channels, kernel_size=(1, 1)),
        )

    def forward(self, feats, lengths=None):
        """Return logits ``[B, n_classes]`` for SSL features ``[B, T, D]``.

        ``lengths`` is accepted for the back-end interface and ignored: the
        inputs are cropped or tiled to one length, as in the paper.
        """
        # (feature x time) map with one channel.
        x = self.LL(feats).transpose(1, 2).unsqueeze(1)
        x = self.selu(self.first_bn(F.max_pool2d(x, (3, 3))))
        x = self.selu(self.first_bn1(self.encoder(x)))

        # Attention pooling of the map: over time -> spectral nodes, over
        # features -> temporal nodes.
        w = self.attention(x)
        e_S = (x * F.softmax(w, dim=-1)).sum(dim=-1).transpose(1, 2)
        e_T = (x * F.softmax(w, dim=-2)).sum(dim=-2).transpose(1, 2)
        return self.classify(e_S, e_T)
