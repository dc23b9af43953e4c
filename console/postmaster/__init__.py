"""Gmail Postmaster Tools v2: the API client, its credentials, local history and SNDS.

Engines only: nothing here imports Textual. The Google client is blocking, so callers
run it in a thread (a Textual thread worker, or `asyncio.to_thread` headless).
"""
