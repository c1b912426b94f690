"""A Hugging Face Space (or any machine) runs the avsl app from here: `python app.py`.

The checkpoints come from AVSL_CHECKPOINTS (comma-separated run folders, files, URLs or names
from `avsl models`); a Space sets it as a variable. The Space's requirements.txt holds
`avsl[app,download]`.
"""

import os

from avsl.app import AppState, build_app, load_models, make_examples, temporary_folder
from avsl.engine.devices import pick_device

if __name__ == "__main__":
    sources = [s.strip() for s in os.environ.get("AVSL_CHECKPOINTS", "slavc-vggsound144k").split(",") if s.strip()]
    folder = temporary_folder()
    models = load_models(sources, pick_device("auto"))
    build_app(AppState(models, folder, examples=make_examples(folder / "examples"))).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), max_file_size="200mb"
    )
