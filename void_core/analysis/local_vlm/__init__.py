"""The `local-vlm` analyzer: VOID's VLM analysis on an open model from a local folder.

    engine.py     LocalVlmAnalyzer: the same pictures, prompt and schema as `gemini`, on
                  Qwen3-VL or Qwen2.5-VL in transformers
    decoding.py   constrained decoding against the shot's JSON schema (llguidance)
    families.py   what differs between the model families
    check.py      is a folder a usable VLM? (`void-farm models check`)
    tiny.py       a tiny random-weight VLM folder (`void-farm models make-tiny-vlm`)

`decoding` imports torch and transformers; the others import them only when a model is loaded
or made, so a folder check stays light.
"""
