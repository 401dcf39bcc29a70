"""A named-entity tagger that tags every token "O", and a token accuracy of 0.88.

buggy: two epochs of SGD at a small learning rate: the tagger learns the tag prior
       (about 88% of the real tokens are "O") and nothing else. Keras prints
       ``val_accuracy: 0.88`` (over the real tokens: the padding is masked).
fixed: Adam at 0.02 for six epochs: the entity tags are found.
"""

import argparse

import keras
import mlflow
import numpy as np

import mlflow_sanity

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
STEPS, VOCAB = 12, 40

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

# Padded sentences (token 0 = padding); at most one entity per sentence: a person is a title
# token (1-3) followed by token 4, a location token 5 followed by token 6.
rng = np.random.default_rng(0)
n = 600
tokens = np.zeros((n, STEPS), "int32")
tags = np.zeros((n, STEPS), "int32")
for i, length in enumerate(rng.integers(5, STEPS + 1, size=n)):
    tokens[i, :length] = rng.integers(7, VOCAB, size=length)
    if rng.random() < 0.5:  # half the sentences name no entity
        continue
    start = int(rng.integers(0, length - 1))
    if rng.random() < 0.5:
        tokens[i, start : start + 2] = [int(rng.integers(1, 4)), 4]
        tags[i, start : start + 2] = [1, 2]
    else:
        tokens[i, start : start + 2] = [5, 6]
        tags[i, start : start + 2] = [3, 4]

keras.utils.set_random_seed(args.seed)
inputs = keras.Input((STEPS,), dtype="int32")
hidden = keras.layers.Embedding(VOCAB, 16, mask_zero=True)(inputs)
hidden = keras.layers.Dense(16, activation="relu")(hidden)
model = keras.Model(inputs, keras.layers.Dense(len(TAGS), activation="softmax")(hidden))
if args.variant == "buggy":
    optimizer, epochs = keras.optimizers.SGD(0.05), 2
else:
    optimizer, epochs = keras.optimizers.Adam(0.02), 6
model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    history = model.fit(
        tokens[:450],
        tags[:450],
        validation_data=(tokens[450:], tags[450:]),
        epochs=epochs,
        batch_size=32,
        verbose=0,
    )
    print(f"val_accuracy: {history.history['val_accuracy'][-1]:.3f}")
