class Broken:
    def process_traces(self, batch)
        pass
