"""``harcnn label``: a local web app to label a folder of recordings, with a model's timeline beside them.

* :mod:`harcnn.labelling.store`: the folder: its recordings, videos and ``labels.csv`` (read, checked,
  written atomically, backed up, versioned per recording), and the app's own settings file;
* :mod:`harcnn.labelling.decimate`: min/max per screen bucket, so that an hour at 50 Hz zooms and pans
  without shipping every sample;
* :mod:`harcnn.labelling.timelines`: the model's timeline with confidence (``--model``, or the model a
  hook chooses for a recording);
* :mod:`harcnn.labelling.server`: the Starlette app (routes, the token, host and size checks) and
  :func:`~harcnn.labelling.server.serve`; ``static/`` holds its page.

It needs the ``label`` extra (``pip install 'harcnn[label]'``: Starlette, uvicorn, and plotly, whose
bundled ``plotly.min.js`` draws the signals). Nothing here is imported by the rest of harcnn.
"""
