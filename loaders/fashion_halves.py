"""``fashion-halves``: Fashion-MNIST cut into two image halves (EmbraceNet bimodal Fashion-MNIST, §6.1).

H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
Algorithms", arXiv:1708.07747, 2017. Same layout and protocol as :mod:`.mnist_halves` (four idx files, 60,000 / 10,000
images of 28×28, validation = the last 5,000 training images, uint8 storage scaled by the reader); md5 as published
by the maintainers (and listed by torchvision's FashionMNIST).
"""

from __future__ import annotations

from modalbench.datasets import register_dataset

from .mnist_halves import IdxHalves


@register_dataset
class FashionHalves(IdxHalves):
    name = "fashion-halves"
    version = "v1"
    description = "Fashion-MNIST clothing images as two 28x14 image halves (EmbraceNet bimodal Fashion-MNIST)"
    license = "MIT (Zalando SE)"
    homepage = "https://github.com/zalandoresearch/fashion-mnist"
    citation = (
        "H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
        "Learning Algorithms. arXiv:1708.07747, 2017."
    )
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    task_name = "item"
    files = {
        "train_images": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    }
    #: the maintainers' S3 bucket, their GitHub repository, the Google Cloud copy Keras uses
    mirrors = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    )
