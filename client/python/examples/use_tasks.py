from tasks import fetch, thumbnail, tm

with tm:  # closes the app's client at the end
    handle = thumbnail.submit({"width": 640})  # a TaskHandle: the task id, and more
    print(handle.result(timeout=30).json())
    print(fetch.submit("example.com").result(timeout=30).text())
