"""AWS's flask predictor (scikit_bring_your_own predictor.py), calling the generated image's handlers."""
import inspect
import sys
from pathlib import Path

import flask

sys.path.insert(0, "/opt/program")
import serving  # noqa: E402

MODEL_DIR = Path("/opt/ml/model")
handlers = serving.load_handlers(serving.find_inference_module(MODEL_DIR))
model = handlers["model_fn"](str(MODEL_DIR))
app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    return flask.Response(response="\n", status=200 if model is not None else 404, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    accept = serving.media_type(flask.request.headers.get("Accept"), serving.JSON)
    data = handlers["input_fn"](flask.request.get_data(), serving.media_type(flask.request.content_type, serving.JSON))
    out = handlers["output_fn"](handlers["predict_fn"](data, model), accept)
    if inspect.isgenerator(out):
        out = b"".join(serving.stream(out))
    return flask.Response(response=out, status=200, mimetype=accept)
