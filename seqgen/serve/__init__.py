"""`seqgen serve`: a local web page over the library: compose music, write and score text or DNA, look at the
surprise of a recording, with whatever models are at hand.

app.py builds the ASGI app (FastAPI); jobs.py runs one piece of long work at a time off the event loop; work.py
does each view's work through the `Model` API; limits.py holds what a request may ask; models.py lists the models;
static/ is the page (plain HTML, JavaScript and CSS, nothing fetched from the internet).
"""
