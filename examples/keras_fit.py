"""Keras 3 ``fit`` with ``TrackerCallback`` (needs ``tracker[keras]``).

Any backend: ``KERAS_BACKEND=torch python examples/keras_fit.py`` needs no TensorFlow.
"""

import keras  # after the adapter: its import checks that keras is installed
import numpy as np

import tracker
from tracker.integrations.keras import TrackerCallback

x = np.random.default_rng(0).random((256, 8)).astype("float32")
y = (x.sum(1) > 4).astype("float32")
model = keras.Sequential(
    [
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=10, decay_rate=0.9)
model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy", metrics=["accuracy"])
run = tracker.init(project="examples")
model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0, callbacks=[TrackerCallback()])
tracker.finish()
print(f"logged run {run.id}")
