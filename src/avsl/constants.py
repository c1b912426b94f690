"""Numbers fixed by the public protocol or by torchvision; one place so nothing hard-codes them."""

# torchvision's ImageNet statistics, used by every AVSL code base (EZ-VSL datasets.py).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# VGGSound wavs are 16 kHz mono; EZ-VSL uses a 3 s window (docs/protocol.md).
SAMPLE_RATE = 16_000
AUDIO_SECONDS = 3.0

# Ground-truth and predicted maps are scored at 224 x 224 (LVS / EZ-VSL protocol).
EVAL_SIZE = 224

# Object-size buckets on the mean box area in 224 x 224 pixels (SLAVC): upper bounds, exclusive.
SIZE_BUCKETS = (("small", 32**2), ("medium", 96**2), ("large", 144**2), ("huge", float("inf")))

# AUC of the success curve: thresholds 0, 0.05, ..., 1.0 (EZ-VSL utils.Evaluator).
AUC_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(21))

# Frames whose header claims more pixels are refused before decoding: 50 megapixels is six times
# an 8K UHD frame, and below PIL's own hard limit (2 x Image.MAX_IMAGE_PIXELS = 179 MP), which
# stops larger headers whatever this is set to.
MAX_FRAME_PIXELS = 50_000_000

# the model arithmetic a run or a command may ask for (avsl.precision resolves `auto`)
PRECISIONS = ("auto", "fp32", "bf16")
